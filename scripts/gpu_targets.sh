#!/usr/bin/env bash
# Checks the CUDA benchmark tables of scripts/gpu_check.sh against the CUDA issue's targets
# and prints a Markdown table (one row per target, "met" or "missed"):
#   - int8 fake-quant per-tensor and per-channel (axis 0), fp8 e4m3 fake-quant and MXFP4
#     quantize: at least 85 % of the bandwidth of a device-to-device copy of the same bytes;
#   - int8 fake-quant per-tensor and per-channel: at least 2x LibTorch's own kernel.
# Uses the largest element count in the tables (256M in a full run, 16M with --quick).
#
#   scripts/gpu_targets.sh CUDA_BENCHMARKS.md [CUDA_TORCH_BASELINES.md]
#
# Exit status 0 whether targets are met or not (they are goals, not tests); 2 for bad input.
set -euo pipefail
bench=${1:?usage: gpu_targets.sh CUDA_BENCHMARKS.md [CUDA_TORCH_BASELINES.md]}
baselines=${2:-}
[ -f "$bench" ] || { echo "gpu_targets: no such file: $bench" >&2; exit 2; }
files=("$bench")
if [ -n "$baselines" ]; then
  [ -f "$baselines" ] || { echo "gpu_targets: no such file: $baselines" >&2; exit 2; }
  files+=("$baselines")
fi

BENCH=$bench BASELINES=$baselines awk -F'|' '
  BEGIN { bench = ENVIRON["BENCH"]; baselines = ENVIRON["BASELINES"] }
  # Table rows: | name | <n>M | time (us) | GB/s | <p>% |. The share of copy is recomputed
  # from the GB/s columns (whole GB/s, so within 0.02 %), not read from the rounded % column.
  NF >= 7 && $3 ~ /^ *[0-9]+M *$/ {
    for (i = 2; i <= 6; ++i) gsub(/^ +| +$/, "", $i)
    n = $3 + 0
    key = FILENAME "\t" $2 "\t" n
    us[key] = $4 + 0
    gbs[key] = $5 + 0
    if ($2 ~ /^copy/ && !((FILENAME "\t" n) in copy)) copy[FILENAME "\t" n] = $5 + 0
    if (n > size) size = n
  }
  function need(file, name,   key) {
    key = file "\t" name "\t" size
    if (!(key in us)) { missing = missing "\n- no row \"" name "\" at " size "M in " file; return 0 }
    return 1
  }
  function bandwidth(name, label,   key, c, p) {
    if (!need(bench, name)) return
    c = copy[bench "\t" size]
    if (c <= 0) { missing = missing "\n- no copy row at " size "M in " bench; return }
    p = 100 * gbs[bench "\t" name "\t" size] / c
    printf "| %s | %.1f %% of copy | >= 85 %% | %s |\n", label, p, (p >= 85 ? "met" : "missed")
  }
  function speedup(torch, ours, label,   r) {
    if (baselines == "") return
    if (!need(baselines, torch) || !need(baselines, ours)) return
    r = us[baselines "\t" torch "\t" size] / us[baselines "\t" ours "\t" size]
    printf "| %s | %.2fx LibTorch | >= 2x | %s |\n", label, r, (r >= 2 ? "met" : "missed")
  }
  END {
    if (size == 0) { print "gpu_targets: no benchmark rows in " bench > "/dev/stderr"; exit 2 }
    printf "| target (%dM float32 elements) | measured | goal | result |\n|---|---:|---:|---|\n", size
    bandwidth("int8 fake-quant per-tensor, y", "int8 fake-quant per-tensor")
    bandwidth("int8 fake-quant per-channel axis 0, y", "int8 fake-quant per-channel (axis 0)")
    bandwidth("fp8 e4m3 fake-quant per-tensor, y", "fp8 e4m3 fake-quant per-tensor")
    bandwidth("mxfp4 quantize (block 32)", "MXFP4 quantize (block 32)")
    speedup("torch fake_quantize_per_tensor_affine", "coreai_opt int8 fake-quant per-tensor, y",
            "int8 fake-quant per-tensor vs LibTorch")
    speedup("torch fake_quantize_per_channel_affine (axis 0)",
            "coreai_opt int8 fake-quant per-channel axis 0, y",
            "int8 fake-quant per-channel vs LibTorch")
    if (missing != "") {
      fflush()
      print "gpu_targets: missing rows:" missing > "/dev/stderr"
      exit 2
    }
  }
'  "${files[@]}"
