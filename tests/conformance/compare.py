"""Compares our graph mode with the Python reference on one conformance case.

Usage: python compare.py --runner RUNNER --work DIR CASE [CASE ...]

Runs RUNNER (coreai_opt_conformance_runner) on DIR/models/<model>.pt with the
case's config, writes DIR/ours/<case>.json and compares it with
DIR/reference/<case>.json (run_reference.py):

1. quantized tensors: every use (op name, input index, or the graph output) that
   reads through a fake-quant on either side must do so on both, from the same
   source, with the same spec; the uses one fake-quant serves must be served by
   one fake-quant on our side too (same sharing);
2. qparams after prepare + calibration: scales and minvals within one float32
   ulp (summation order), zero points equal;
3. the prepared model's output on the evaluation batch: close (see OUTPUT_*).

Every intended difference is listed in KNOWN (and in docs/conformance.md).
Exit status 0 when each case matches or differs only as KNOWN says.
"""
import argparse
import json
import os
import re
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cases  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))

# Outputs: |ours - ref| <= OUTPUT_ATOL * max|ref| + OUTPUT_RTOL * |ref| elementwise.
# Scales may differ by one ulp (moving averages, float summation order), so a
# value at a rounding tie can land on the neighbouring code on one side; one code
# of an int8 activation is 1/255 of its range and moves downstream values by
# about that much. 2% of the output range covers a few such flips and still
# fails on any real difference (a missing or extra fake-quant, another scale).
OUTPUT_ATOL = 0.02
OUTPUT_RTOL = 1e-3
ULPS = 1

# Known differences: CATEGORIES says why (docs/conformance.md has the same list),
# KNOWN which case shows which, as regular expressions over the difference lines
# compare_case() prints. A line no pattern of its case matches fails the case.
CATEGORIES = {
    "unsupported_key": "a module_type_configs key without a dot: the reference requires a "
                       "fully-qualified name; we also accept it (C++ classes, classes defined "
                       "in __main__)",
    "reference_crash": "reference bug: a module_output_spec null on a module output that "
                       "feeds a shared-observer op (concat, max_pool2d) fails in torchao's "
                       "prepare with a KeyError",
    "concat_is_cat": "TorchScript records torch.concat as aten::cat, so our op is named and "
                     "typed `cat` where torch.export says `concat`",
    "consequence": "scale, spec or output differences downstream of the differences above",
}

KNOWN = {
    "skip_softmax_in_module_type": {"reference_error": "ValidationError",
                                    "categories": ["unsupported_key"]},
    "module_null_disables": {"reference_error": "KeyError", "categories": ["reference_crash"]},
    "module_output_null_into_concat": {"reference_error": "KeyError",
                                       "categories": ["reference_crash"]},
}

PATTERNS = {
    "concat_is_cat": [r"^(cat|concat)/\d+ \((cat|concat)\)",
                      r"source op:concat \(reference\) vs op:cat \(ours\)"],
    "consequence": [r"^outputs differ: ", r"^fake-quant \S+ / \S+: (scale|minval)\[",
                    r"^fake-quant \S+ / \S+: zero points differ"],
}


def add_known(case, *categories):
    KNOWN.setdefault(case, {}).setdefault("categories", []).extend(categories)


for _case in ("concat_output_unquantized", "override_axis", "default_convnet"):
    add_known(_case, "concat_is_cat")


def known_category(case, line):
    for category in KNOWN.get(case, {}).get("categories", []):
        if category == "consequence":
            continue
        for pattern in PATTERNS.get(category, []):
            if re.search(pattern, line):
                return category
    # Numeric consequences are accepted only in a case with a structural difference.
    if any(c != "consequence" for c in KNOWN.get(case, {}).get("categories", [])):
        for pattern in PATTERNS["consequence"]:
            if re.search(pattern, line):
                return "consequence"
    return None


def load(path):
    with open(path) as f:
        return json.load(f)


def ulp_distance(a, b):
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    ia = a.view(np.int32).astype(np.int64)
    ib = b.view(np.int32).astype(np.int64)
    # Map the sign-magnitude float order onto integers.
    ia = np.where(ia < 0, -(ia & 0x7FFFFFFF), ia)
    ib = np.where(ib < 0, -(ib & 0x7FFFFFFF), ib)
    return np.abs(ia - ib)


def use_table(rec):
    return {"%s/%d" % (u["op"], u["index"]): u for u in rec["uses"]}


def compare_case(case, ref, ours):
    """List of difference lines (empty: conformant)."""
    diffs = []
    known = KNOWN.get(case, {})
    if "error" in ref or "error" in ours:
        if "error" in ref and "error" not in ours and \
                ref["error"].startswith(known.get("reference_error", "\0")):
            return []
        return ["errors differ: reference %r, ours %r" % (ref.get("error"), ours.get("error"))]
    if known.get("reference_error"):
        diffs.append("KNOWN says the reference fails (%s) but it did not" % known["reference_error"])

    ref_uses, our_uses = use_table(ref), use_table(ours)
    expected = set(known.get("uses", ()))
    fq_map, fq_back = {}, {}
    for key in sorted(set(ref_uses) | set(our_uses)):
        r, o = ref_uses.get(key), our_uses.get(key)
        r_fq = (r or {}).get("fake_quants") or []
        o_fq = (o or {}).get("fake_quants") or []
        if not r_fq and not o_fq:
            continue
        if key in expected:
            continue
        where = "%s (%s)" % (key, (r or o)["op_type"])
        if not r_fq or not o_fq:
            diffs.append("%s from %s: quantized by %s only" % (
                where, (r or o)["source"], "the reference" if r_fq else "us"))
            continue
        # A use may read through fake-quants in sequence (a module-level spec
        # after the producer's output fake-quant), the reader's nearest first.
        if len(r_fq) != len(o_fq):
            diffs.append("%s: %d fake-quants in sequence (reference %s) vs %d (ours %s)"
                         % (where, len(r_fq), r_fq, len(o_fq), o_fq))
            continue
        if r["source"] != o["source"]:
            diffs.append("%s: source %s (reference) vs %s (ours)" % (where, r["source"], o["source"]))
        for rf, of in zip(r_fq, o_fq):
            if fq_map.setdefault(rf, of) != of or fq_back.setdefault(of, rf) != rf:
                diffs.append("%s: fake-quant sharing differs (reference %s, ours %s)"
                             % (where, rf, of))
                break
    for rf, of in sorted(fq_map.items()):
        rq, oq = ref["fake_quants"][rf], ours["fake_quants"][of]
        where = "fake-quant %s / %s" % (rf, of)
        if rq["spec"] != oq["spec"]:
            diffs.append("%s: spec %s (reference) vs %s (ours)" % (where, rq["spec"], oq["spec"]))
            continue
        if len(rq["scale"]) != len(oq["scale"]):
            diffs.append("%s: %d scales (reference) vs %d (ours)" % (where, len(rq["scale"]),
                                                                   len(oq["scale"])))
            continue
        d = ulp_distance(rq["scale"], oq["scale"])
        if d.max(initial=0) > ULPS:
            i = int(d.argmax())
            diffs.append("%s: scale[%d] %r (reference) vs %r (ours), %d ulps" % (
                where, i, rq["scale"][i], oq["scale"][i], int(d[i])))
        if rq.get("zero_point") != oq.get("zero_point"):
            diffs.append("%s: zero points differ: %s vs %s" % (
                where, rq.get("zero_point", [])[:8], oq.get("zero_point", [])[:8]))
        if ("minval" in rq) != ("minval" in oq):
            diffs.append("%s: minval on one side only" % where)
        elif "minval" in rq:
            d = ulp_distance(rq["minval"], oq["minval"])
            if d.max(initial=0) > ULPS:
                i = int(d.argmax())
                diffs.append("%s: minval[%d] %r vs %r" % (where, i, rq["minval"][i], oq["minval"][i]))

    if ref["output_shape"] != ours["output_shape"]:
        diffs.append("output shape %s (reference) vs %s (ours)" % (ref["output_shape"],
                                                                  ours["output_shape"]))
    else:
        r = np.asarray(ref["output"], dtype=np.float64)
        o = np.asarray(ours["output"], dtype=np.float64)
        err = np.abs(r - o)
        bound = OUTPUT_ATOL * np.abs(r).max(initial=0) + OUTPUT_RTOL * np.abs(r)
        if (err > bound).any():
            i = int((err - bound).argmax())
            diffs.append("outputs differ: %d of %d elements out of tolerance, worst [%d] %r "
                         "(reference) vs %r (ours); max |diff| %.3g, output range %.3g" % (
                             int((err > bound).sum()), r.size, i, r[i], o[i], err.max(),
                             np.abs(r).max(initial=0)))
    return diffs


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runner", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("cases", nargs="+")
    args = p.parse_args()
    os.makedirs(os.path.join(args.work, "ours"), exist_ok=True)
    failed = 0
    for case in args.cases:
        model, config, _ = cases.CASES[case]
        ref_path = os.path.join(args.work, "reference", case + ".json")
        if not os.path.exists(ref_path):
            print("%s: no reference result %s (the conformance_reference test makes it; "
                  "run scripts/setup.sh if the Python reference is missing)" % (case, ref_path))
            failed += 1
            continue
        ours_path = os.path.join(args.work, "ours", case + ".json")
        models_dir = os.path.join(args.work, "models")
        run = subprocess.run([args.runner, os.path.join(models_dir, model + ".pt"),
                              os.path.join(models_dir, model + "_inputs.pt"),
                              os.path.join(ROOT, config), ours_path],
                             capture_output=True, text=True)
        if run.returncode != 0:
            print("%s: runner failed (%d): %s" % (case, run.returncode, run.stderr.strip()))
            failed += 1
            continue
        ref, ours = load(ref_path), load(ours_path)
        diffs = compare_case(case, ref, ours)
        n_fq = len(ref.get("fake_quants", {}))
        unexpected = [d for d in diffs if known_category(case, d) is None]
        seen = sorted({known_category(case, d) for d in diffs} - {None})
        if "error" in ref and case in KNOWN and not diffs:
            seen = KNOWN[case]["categories"]
        print("%s (%s, %s): %d fake-quants in the reference, %d differences, %d unexpected"
              % (case, model, config, n_fq, len(diffs), len(unexpected)))
        for d in diffs:
            category = known_category(case, d)
            print("  %s %s" % ("[%s]" % category if category else "[UNEXPECTED]", d))
        for category in seen:
            print("  known: %s: %s" % (category, CATEGORIES[category]))
        if unexpected:
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
