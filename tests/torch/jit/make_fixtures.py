"""Builds the TorchScript fixtures of the graph-mode tests.

Usage: python make_fixtures.py OUT_DIR

Every network is saved twice, scripted (`<name>_scripted.pt`) and traced
(`<name>_traced.pt`), so the tests can check that both front ends give the same
op names, types and module paths. Example inputs are saved as buffers of a
scripted holder module (`<name>_inputs.pt`), which C++ reads with
torch::jit::load. `<name>_modules.txt` lists `path<TAB>python type` for every
module as Python's named_modules(remove_duplicate=False) sees it, an
independent check of the type names the C++ side derives from TorchScript.

The classes live in this script, so their Python names are `__main__.Net`, ...
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


class SelfAttention(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.q = nn.Linear(d, d)
        self.k = nn.Linear(d, d)
        self.v = nn.Linear(d, d)
        self.scale = d ** -0.5

    def forward(self, x):
        q, k, v = self.q(x), self.k(x), self.v(x)
        a = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * self.scale, dim=-1)
        o = torch.matmul(a, v)
        o = o + x
        return torch.cat([o, a.sum(-1, keepdim=True)], dim=-1)[..., : x.shape[-1]]


class Layer(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.attn = SelfAttention(d)

    def forward(self, x):
        return self.attn(x)


class Encoder(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.layers = nn.ModuleList([Layer(d), Layer(d)])

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class ConvBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class Net(nn.Module):
    """Nested modules, a ModuleList, a Sequential, a module registered under two
    names (shared / alias), conv-bn-relu, attention, embedding, conv_transpose and
    a layer (odd: 6 input features) that a block of 16 does not divide."""

    def __init__(self, d=16):
        super().__init__()
        self.emb = nn.Embedding(20, d)
        self.encoder = Encoder(d)
        self.mlp = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, d))
        self.shared = nn.Linear(d, d)
        self.alias = self.shared
        self.down = nn.Linear(d, 6)
        self.odd = nn.Linear(6, d)
        self.block = ConvBlock()
        self.deconv = nn.ConvTranspose2d(4, 2, 2, stride=2)

    def forward(self, ids, img):
        h = self.emb(ids)
        h = self.encoder(h)
        h = self.mlp(h)
        h = self.shared(h) + self.alias(h)
        h = self.odd(F.relu(self.down(h)))
        y = self.deconv(self.block(img))
        return h.sum() + y.mean(), h


class Tiny(nn.Module):
    """fc1 -> relu -> fc2: small enough for tests to recompute by hand."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(self.relu(self.fc1(x)))


class ConvBn(nn.Module):
    """conv-bn-relu, then conv-bn (no activation), flatten and linear."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 4, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 5 * 5, 5)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.bn2(self.conv2(x))
        return self.fc(torch.flatten(x, 1))


class Resid(nn.Module):
    """n-ary ops: add + relu fuses, sub takes no activation."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        y = torch.relu(x + self.fc(x))
        return torch.relu(y - x)


class SamePad(nn.Module):
    """A string-padded conv (traced: aten::_convolution_mode), a numerically padded one, and
    a product with a one-element tensor (never quantized)."""

    def __init__(self):
        super().__init__()
        self.same = nn.Conv2d(3, 4, 3, padding="same")
        self.pad1 = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        y = self.pad1(self.same(x))
        return y * y.sum()


class Aliased(nn.Module):
    """One weight under two local names, fc.weight and holder.w, read by two linears."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.holder = nn.Module()
        self.holder.w = self.fc.weight

    def forward(self, x):
        return self.fc(x) + F.linear(x, self.holder.w)


def randomize_bn(model):
    # Non-trivial running statistics and affine parameters, so folding matters.
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=g) * 0.2)
            m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
            with torch.no_grad():
                m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                m.bias.copy_(torch.randn(c, generator=g) * 0.1)


class Branchy(nn.Module):
    """A linear inside an `if`: graph mode cannot quantize it and must say so."""

    def __init__(self):
        super().__init__()
        self.pre = nn.Linear(4, 4)
        self.inner = nn.Linear(4, 4)

    def forward(self, x):
        x = self.pre(x)
        if bool(x.sum() > 0):
            x = self.inner(x)
        return x


class Holder(nn.Module):
    def __init__(self, tensors):
        super().__init__()
        for i, t in enumerate(tensors):
            self.register_buffer("input%d" % i, t)


def save(out, name, model, inputs):
    model.eval()
    torch.jit.script(model).save(os.path.join(out, name + "_scripted.pt"))
    torch.jit.trace(model, inputs).save(os.path.join(out, name + "_traced.pt"))
    torch.jit.script(Holder(inputs)).save(os.path.join(out, name + "_inputs.pt"))
    with open(os.path.join(out, name + "_modules.txt"), "w") as f:
        for path, m in model.named_modules(remove_duplicate=False):
            f.write("%s\t%s.%s\n" % (path, type(m).__module__, type(m).__qualname__))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    net = Net()
    randomize_bn(net)
    save(out, "net", net, (torch.randint(0, 20, (2, 5)), torch.randn(1, 3, 6, 6)))
    save(out, "tiny", Tiny(), (torch.randn(5, 4),))
    convbn = ConvBn()
    randomize_bn(convbn)
    save(out, "convbn", convbn, (torch.randn(2, 3, 5, 5),))
    save(out, "resid", Resid(), (torch.randn(3, 4),))
    save(out, "samepad", SamePad(), (torch.randn(1, 3, 6, 6),))
    save(out, "aliased", Aliased(), (torch.randn(2, 4),))
    # Control flow survives only scripting.
    torch.jit.script(Branchy().eval()).save(os.path.join(out, "branchy_scripted.pt"))


if __name__ == "__main__":
    main()


# Calibration data of the `coreai-opt quantize` tests, in the format docs/cli.md
# describes: torch.save of a list of batches, each a Tensor or a tuple of Tensors.
# The *_bad_* files hold one mistake each, at a known batch.
def save_calibration(out):
    g = torch.Generator().manual_seed(2)

    def x(*shape):
        return torch.randn(*shape, generator=g)

    torch.save([(x(5, 4),) for _ in range(6)], os.path.join(out, "tiny_calib.pt"))
    torch.save([x(5, 4) for _ in range(3)], os.path.join(out, "tiny_calib_tensors.pt"))
    torch.save((x(5, 4),), os.path.join(out, "tiny_calib_one.pt"))
    torch.save(
        [(torch.randint(0, 20, (2, 5), generator=g), x(1, 3, 6, 6)) for _ in range(4)],
        os.path.join(out, "net_calib.pt"),
    )
    # Batch 2 has 7 features where fc1 takes 4: the forward fails there.
    torch.save([(x(5, 4),), (x(5, 4),), (x(5, 7),)], os.path.join(out, "tiny_calib_bad_shape.pt"))
    # Batch 1 has rank 3 where batch 0 has rank 2.
    torch.save([(x(5, 4),), (x(2, 5, 4),)], os.path.join(out, "tiny_calib_bad_rank.pt"))
    # Two inputs per batch for a forward(x) of one.
    torch.save([(x(5, 4), x(5, 4))], os.path.join(out, "tiny_calib_bad_arity.pt"))


if __name__ == "__main__":
    save_calibration(sys.argv[1])
