"""Python loads a prepared or finalized coreai_opt model: torch.ops.load_library
registers the coreai_opt ops and the FakeQuantizeSpec class, then torch.jit.load
reads the model and runs it; the output must equal, bit for bit, the one the
quantizing process computed.

usage: python load_quantized.py LIBCOREAI_OPT_TORCH.so MODEL.pt INPUTS.pt EXPECTED.pt
"""
import sys

import torch


def main():
    lib, model_path, inputs_path, expected_path = sys.argv[1:5]
    try:
        torch.jit.load(model_path)
        print("error: the model loaded without the op library")
        return 1
    except RuntimeError as e:
        # Unknown builtin op coreai_opt::..., or unknown type ...coreai_opt.FakeQuantizeSpec
        if "coreai_opt" not in str(e):
            raise
    torch.ops.load_library(lib)
    model = torch.jit.load(model_path)
    holder = torch.jit.load(inputs_path)
    args = []
    while hasattr(holder, "input%d" % len(args)):
        args.append(getattr(holder, "input%d" % len(args)))
    with torch.no_grad():
        out = model(*args)
    h = out[1] if isinstance(out, tuple) else out
    expected = torch.jit.load(expected_path).output
    if not torch.equal(h, expected):
        print("error: output differs", (h - expected).abs().max().item())
        return 1
    print("load_quantized.py ok:", model_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
