"""Small models of the conformance suite.

Every model is built from a fixed seed, has nested modules and is traceable by
both torch.export (the reference's graph mode) and torch.jit.trace (ours). The
module paths are chosen so the config examples' names apply:
`model.selfattention.layer.0`, `model.decoder.*`, `decoder.deconv1`, and an op
named `linear_23`.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class mymodelSelfAttention(nn.Module):  # noqa: N801 - the name the config example uses
    """q/k/v linears, scaled matmul, softmax, matmul, output linear, residual add."""

    def __init__(self, d):
        super().__init__()
        self.q = nn.Linear(d, d)
        self.k = nn.Linear(d, d)
        self.v = nn.Linear(d, d)
        self.o = nn.Linear(d, d)
        self.scale = d ** -0.5

    def forward(self, x):
        q, k, v = self.q(x), self.k(x), self.v(x)
        a = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * self.scale, dim=-1)
        return x + self.o(torch.matmul(a, v))


class SelfAttentionStack(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.layer = nn.ModuleList([mymodelSelfAttention(d), mymodelSelfAttention(d)])

    def forward(self, x):
        for layer in self.layer:
            x = layer(x)
        return x


class Body(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.selfattention = SelfAttentionStack(d)
        self.decoder = nn.Sequential(nn.Linear(d, 2 * d), nn.ReLU(), nn.Linear(2 * d, d))

    def forward(self, x):
        return self.decoder(self.selfattention(x))


class Transformer(nn.Module):
    """Embedding, two attention layers in a ModuleList, an MLP decoder, a head."""

    def __init__(self, vocab=40, d=32):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.model = Body(d)
        self.head = nn.Linear(d, vocab)

    def forward(self, ids):
        return self.head(self.model(self.emb(ids)))


class ConvBnRelu(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.deconv1 = nn.ConvTranspose2d(c, c, 2, stride=2)
        self.conv = nn.Conv2d(c, c, 1)

    def forward(self, x):
        return self.conv(F.relu(self.deconv1(x)))


class ConvNet(nn.Module):
    """conv-bn-relu blocks, max pool, a transposed convolution, concat of two
    branches, flatten and a linear head."""

    def __init__(self, c=32):
        super().__init__()
        self.stem = ConvBnRelu(3, c)
        self.block = ConvBnRelu(c, c)
        self.pool = nn.MaxPool2d(2)
        self.decoder = Decoder(c)
        self.side = nn.Conv2d(c, c, 1)
        self.fc = nn.Linear(2 * c * 4 * 4, 10)

    def forward(self, x):
        x = self.block(self.stem(x))
        y = self.pool(x)
        z = torch.concat([self.decoder(y), self.side(x)], dim=1)
        z = F.adaptive_avg_pool2d(z, 4)
        return self.fc(torch.flatten(z, 1))


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc1 = nn.Linear(d, d)
        self.fc2 = nn.Linear(d, d)

    def forward(self, x):
        return x + self.fc2(F.relu(self.fc1(x)))


class DeepMLP(nn.Module):
    """12 residual blocks of two linears each (ops linear ... linear_23) in nested
    Sequentials."""

    def __init__(self, d=16):
        super().__init__()
        self.stages = nn.Sequential(
            nn.Sequential(*[Block(d) for _ in range(6)]),
            nn.Sequential(*[Block(d) for _ in range(6)]),
        )

    def forward(self, x):
        return self.stages(x)


class MHAModel(nn.Module):
    """nn.MultiheadAttention between a linear projection and a linear head."""

    def __init__(self, d=32, heads=4):
        super().__init__()
        self.proj = nn.Linear(d, d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.head = nn.Linear(d, d)

    def forward(self, x):
        h = self.proj(x)
        a, _ = self.attn(h, h, h, need_weights=False)
        return self.head(a + h)


class Bounded(nn.Module):
    """Linears ending in ops with a known output range: a sigmoid read by another
    linear, tanh, relu6, hardtanh, hardsigmoid, relu at the graph outputs, and a
    relu read by a linear through reshape and unsqueeze."""

    def __init__(self, d=8):
        super().__init__()
        self.fc_s = nn.Linear(d, d)
        self.fc_after = nn.Linear(d, d)
        self.fc_t = nn.Linear(d, d)
        self.fc_r6 = nn.Linear(d, d)
        self.fc_h = nn.Linear(d, d)
        self.fc_hs = nn.Linear(d, d)
        self.fc_r = nn.Linear(d, d)
        self.fc_v = nn.Linear(d, d)
        self.fc_half = nn.Linear(d // 2, d // 2)

    def forward(self, x):
        # The last output reads a relu through reshape and unsqueeze.
        v = F.relu(self.fc_v(x)).reshape(-1, 4).unsqueeze(0)
        return (self.fc_after(torch.sigmoid(self.fc_s(x))), torch.tanh(self.fc_t(x)),
                F.relu6(self.fc_r6(x)), F.hardtanh(self.fc_h(x), -0.5, 1.5),
                F.hardsigmoid(self.fc_hs(x)), F.relu(self.fc_r(x)), self.fc_half(v))


def randomize_bn(model, seed):
    # Non-trivial running statistics and affine parameters, so folding matters.
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(c, generator=g) * 0.2)
                m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
                m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                m.bias.copy_(torch.randn(c, generator=g) * 0.1)


def build(name):
    """(model in eval mode, list of input tuples): the example input first, then
    the calibration batches, the evaluation batch last."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    if name == "transformer":
        model = Transformer()
        batches = [(torch.randint(0, 40, (2, 8), generator=g),) for _ in range(5)]
    elif name == "convnet":
        model = ConvNet()
        randomize_bn(model, 2)
        batches = [(torch.randn(2, 3, 8, 8, generator=g),) for _ in range(5)]
    elif name == "deep_mlp":
        model = DeepMLP()
        batches = [(torch.randn(4, 16, generator=g),) for _ in range(5)]
    elif name == "bounded":
        model = Bounded()
        batches = [(torch.randn(4, 8, generator=g) * 4,) for _ in range(5)]
    elif name == "mha":
        model = MHAModel()
        batches = [(torch.randn(2, 6, 32, generator=g),) for _ in range(5)]
    else:
        raise ValueError("unknown model %r" % name)
    return model.eval(), batches


MODELS = ["transformer", "convnet", "deep_mlp", "mha", "bounded"]
