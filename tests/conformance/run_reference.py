"""Runs the Python reference (coreai-opt graph mode: torch.export + torchao PT2E)
on every conformance case and writes what it did, for compare.py.

Usage: python run_reference.py OUT_DIR [CASE ...]

OUT_DIR/models/<model>.pt         the model, traced (what the C++ side loads)
OUT_DIR/models/<model>_inputs.pt  buffers input0..inputN of a scripted holder:
                                  input0 the example input of prepare(), then the
                                  calibration batches, the evaluation batch last
OUT_DIR/reference/<case>.json     {"uses": [...], "fake_quants": {...}, "output": [...]}

A use is one tensor read by one op (or by the graph output): the consumer op
name, the input index (the op's `all_input_nodes` position, states included),
the source (`op:<name>`, `input:<index>`, `state:<path>`) and the fake-quant it
reads through (or null). Fake-quants carry their spec and their scale / zero
point / minval after prepare and calibration. A case whose config the reference
rejects records {"error": "..."}.
"""
import logging
import operator
import os
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import json  # noqa: E402

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

try:
    from coreai_opt.quantization import Quantizer, QuantizerConfig  # noqa: E402
    from coreai_opt.quantization.spec.fake_quantize import FakeQuantizeImplBase  # noqa: E402
    import coreai_opt.quantization._graph.quantizer as graph_quantizer  # noqa: E402
    from torchao.quantization.pt2e.quantize_pt2e import (  # noqa: E402
        prepare_qat_pt2e as torchao_prepare_qat_pt2e)
except ImportError as e:  # pragma: no cover - the message is the point
    sys.exit("the Python reference coreai-opt is not installed (%s): run scripts/setup.sh, "
             "which installs tests/conformance/requirements.txt into .venv" % e)

import cases  # noqa: E402
import models  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))


class Holder(nn.Module):
    def __init__(self, tensors):
        super().__init__()
        for i, t in enumerate(tensors):
            self.register_buffer("input%d" % i, t)


def floats(t):
    return [float(v) for v in t.detach().to(torch.float32).reshape(-1).tolist()]


def calculator_name(calc):
    name = type(calc).__name__
    return {"StaticQParamsCalculator": "static",
            "MovingAverageQParamsCalculator": "moving_average",
            "GlobalMinMaxQParamsCalculator": "global_minmax",
            "DynamicQParamsCalculator": "dynamic"}.get(name, name)


def granularity_dict(g):
    kind = type(g).__name__
    d = {"type": {"PerTensorGranularity": "per_tensor", "PerChannelGranularity": "per_channel",
                  "PerBlockGranularity": "per_block"}.get(kind, kind)}
    if getattr(g, "axis", None) is not None:
        d["axis"] = int(g.axis)
    bs = getattr(g, "block_size", None)
    if bs is not None:
        d["block_size"] = [int(b) for b in bs] if isinstance(bs, (list, tuple)) else [int(bs)]
    return d


def fake_quant_record(fq):
    calc = fq.qparams_calculator
    rec = {
        "spec": {
            "dtype": str(fq.dtype).replace("torch.", ""),
            "qscheme": str(calc.qscheme.value),
            "qformulation": str(fq.qformulation.value),
            "granularity": granularity_dict(fq.granularity),
            "qparam_calculator": calculator_name(calc),
            "scale_dtype": (str(calc.scale_dtype).replace("torch.", "")
                            if calc.scale_dtype is not None else None),
        },
        "disabled": bool(fq._disabled),
    }
    if rec["spec"]["qparam_calculator"] == "dynamic":
        # Stateless: the qparams belong to each forward and nothing is stored.
        rec["scale"], rec["scale_shape"] = [], []
        return rec
    rec["scale"] = floats(calc.scale)
    rec["scale_shape"] = list(calc.scale.shape)
    if getattr(calc, "zero_point", None) is not None and calc.zero_point.numel():
        rec["zero_point"] = [int(v) for v in calc.zero_point.reshape(-1).tolist()]
    if getattr(calc, "minval", None) is not None and calc.minval.numel():
        rec["minval"] = floats(calc.minval)
    return rec


class Names:
    """Op names of the exported graph that the reference annotated.

    prepare_qat_pt2e rewrites conv + batch_norm into the QAT form, which renames
    nodes (`conv2d` becomes `conv2d_4`) and inserts others. So every node is
    tagged with its name just before prepare_qat_pt2e; the rewrite keeps the
    conv's metadata, and its new batch_norm gets the name of the batch_norm that
    followed that conv.
    """

    KEY = "conformance_name"

    def __init__(self):
        self.ops = set()  # call_function names of the annotated graph
        self.bn_after = {}  # conv name -> batch_norm name

    def tag(self, gm):
        for n in gm.graph.nodes:
            n.meta[self.KEY] = n.name
            if n.op == "call_function":
                self.ops.add(n.name)
                if "batch_norm" in str(n.target) and isinstance(n.args[0], torch.fx.Node):
                    self.bn_after[n.args[0].name] = n.name

    def is_batch_norm(self, node):
        return node.op == "call_function" and "batch_norm" in str(node.target)

    def name(self, node, fq_modules):
        """The annotated graph's name of a prepared node, None for an inserted one."""
        if node.op != "call_function":
            return None
        tag = node.meta.get(self.KEY)
        if tag in self.ops:
            return tag
        if self.is_batch_norm(node):
            source, _ = self.resolve(node.args[0], fq_modules)
            return self.bn_after.get(source[len("op:"):])
        return None

    def resolve(self, node, fq_modules):
        """(source, [fake-quant names]) of the value an op reads through `node`."""
        fqs = []
        while True:
            if node.op == "call_module" and node.target in fq_modules:
                fqs.append(fq_modules[node.target])
                node = node.args[0]
            elif node.op == "call_function" and node.target is operator.getitem:
                node = node.args[0]
            elif node.op == "call_function" and self.name(node, fq_modules) is None:
                node = next(a for a in node.args if isinstance(a, torch.fx.Node))
            else:
                break
        if node.op == "placeholder":
            placeholders = [n for n in node.graph.nodes if n.op == "placeholder"]
            return "input:%d" % placeholders.index(node), fqs
        if node.op == "get_attr":
            return "state:" + node.target, fqs
        name = self.name(node, fq_modules)
        if name is None:
            raise RuntimeError("no name for node %s (%s, %s)" % (node.name, node.op, node.target))
        return "op:" + name, fqs


def flat_nodes(args):
    out = []
    for a in args:
        if isinstance(a, torch.fx.Node):
            out.append(a)
        elif isinstance(a, (list, tuple)):
            out.extend(flat_nodes(a))
        elif isinstance(a, dict):
            out.extend(flat_nodes(list(a.values())))
    return out


def uses_of(gm, fq_modules, names):
    uses = []
    for node in gm.graph.nodes:
        if node.op == "output":
            consumer = "output"
        elif node.op == "call_function" and node.target is not operator.getitem:
            consumer = names.name(node, fq_modules)
            if consumer is None:
                continue
        else:
            continue
        seen = []
        for a in flat_nodes(list(node.args) + [node.kwargs]):
            if a in seen:
                continue
            seen.append(a)
            source, fqs = names.resolve(a, fq_modules)
            uses.append({"op": consumer, "index": len(seen) - 1, "source": source,
                         "fake_quants": fqs,
                         "op_type": (node.meta.get("torch_fn") or ("", ""))[1].split(".")[-1]
                         if consumer != "output" else "output"})
    return uses


def run_case(name, model_name, config_path, out):
    model, batches = models.build(model_name)
    names = Names()

    def prepare_qat_pt2e(exported, quantizer):
        names.tag(exported)
        return torchao_prepare_qat_pt2e(exported, quantizer)

    graph_quantizer.prepare_qat_pt2e = prepare_qat_pt2e
    try:
        config = QuantizerConfig.from_yaml(os.path.join(ROOT, config_path))
        quantizer = Quantizer(model, config)
        prepared = quantizer.prepare(batches[0])
    except Exception as e:  # noqa: BLE001 - recorded, compare.py decides
        if os.environ.get("CONFORMANCE_DEBUG"):
            raise
        return {"error": "%s: %s" % (type(e).__name__, str(e).splitlines()[0])}
    with torch.no_grad():
        with quantizer.calibration_mode():
            for b in batches[1:-1]:
                prepared(*b)
        output = prepared(*batches[-1])
    # Shared-observer ops get one fake-quant object under several names: every
    # name maps to the first.
    canonical = {id(m): n for n, m in prepared.named_modules()}
    fq_modules = {n: canonical[id(m)] for n, m in prepared.named_modules(remove_duplicate=False)
                  if isinstance(m, FakeQuantizeImplBase)}
    if isinstance(output, (tuple, list)):
        output = output[0]
    return {
        "uses": uses_of(prepared, fq_modules, names),
        "fake_quants": {n: fake_quant_record(prepared.get_submodule(n))
                        for n in sorted(set(fq_modules.values()))},
        "output": floats(output),
        "output_shape": list(output.shape),
    }


def save_model(name, out):
    model, batches = models.build(name)
    # Traced with gradients enabled: under no_grad, nn.MultiheadAttention takes its
    # fused fast path (one _native_multi_head_attention op) where torch.export
    # records the decomposed ops. (The trace check compares graphs textually and
    # trips over the class-name mangling of a second trace.)
    traced = torch.jit.trace(model, batches[0], check_trace=False)
    traced.save(os.path.join(out, name + ".pt"))
    torch.jit.script(Holder([b[0] for b in batches])).save(os.path.join(out, name + "_inputs.pt"))


def main():
    out = sys.argv[1]
    selected = sys.argv[2:] or list(cases.CASES)
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    torch.set_num_threads(1)
    os.makedirs(os.path.join(out, "models"), exist_ok=True)
    os.makedirs(os.path.join(out, "reference"), exist_ok=True)
    for m in sorted({cases.CASES[c][0] for c in selected}):
        save_model(m, os.path.join(out, "models"))
    for c in selected:
        model_name, config_path, _ = cases.CASES[c]
        rec = run_case(c, model_name, config_path, out)
        rec["case"], rec["model"], rec["config"] = c, model_name, config_path
        with open(os.path.join(out, "reference", c + ".json"), "w") as f:
            json.dump(rec, f, indent=1)
        print("%-28s %s" % (c, rec.get("error", "%d fake-quants" % len(rec.get("fake_quants", {})))))


if __name__ == "__main__":
    main()
