#!/usr/bin/env bash
# One command for a machine with an NVIDIA GPU: builds the CUDA kernels, their tests and
# benchmarks, runs the tests (bit-exact against the CPU reference), a subset of them under
# compute-sanitizer memcheck, the torch ops on CUDA tensors (bit-exact against the same ops
# on CPU tensors), and the benchmarks, and writes logs and a Markdown summary.
#
#   scripts/gpu_check.sh OUTDIR [--debs DIR] [--build DIR] [--quick] [--build-only]
#
# Needs on that machine: the CUDA toolkit (nvcc, compute-sanitizer), a C++ compiler, CMake
# >= 3.25, python3 with torch 2.11 built with CUDA (`python3 -c 'import torch'`), dpkg-deb.
# It needs no package registry: the other build dependencies (yaml-cpp, nlohmann-json, fmt,
# Highway, GoogleTest, Google Benchmark) come as .debs from DIR (default: $COREAI_OPT_DEBS,
# else .deps/debs), made beforehand with scripts/fetch_gpu_debs.sh, and are unpacked into
# a private prefix (.deps/prefix); nothing is installed on the system.
#
# Output in OUTDIR: summary.md (device, versions, test counts, the benchmark tables, the
# issue's targets met or missed by scripts/gpu_targets.sh, step times), env.txt,
# configure.log, build.log, cuda_test.log + cuda_test.xml, memcheck.log, torch_cuda_test.log
# + torch_cuda_test.xml, cuda_benchmarks.md, cuda_torch_baselines.md, kernel_resources.txt
# (registers per kernel, when cuobjdump is there). Exit status non-zero when a step fails
# or a test fails (a missed target is not a failure); a missing GPU is an error here (the
# tests would only skip).
#   --build DIR   build directory (default build-gpu/ in the repository)
#   --quick       benchmarks at 16M elements only
#   --build-only  unpack, configure and build, then stop (works without a GPU: a dry run)
# Environment: COREAI_OPT_DEBS (the .deb folder), COREAI_OPT_PYTHON (python with torch).
set -euo pipefail

usage() { sed -n '2,/^# Environment:/p' "$0"; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=""
debs=${COREAI_OPT_DEBS:-$root/.deps/debs}
build=$root/build-gpu
sizes=(16 256)
build_only=0
while (($#)); do
  case "$1" in
    --debs) debs=${2:?--debs needs a directory}; shift 2 ;;
    --debs=*) debs=${1#*=}; shift ;;
    --build) build=${2:?--build needs a directory}; shift 2 ;;
    --quick) sizes=(16); shift ;;
    --build-only) build_only=1; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "gpu_check: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) [ -z "$out" ] || { echo "gpu_check: one OUTDIR only" >&2; exit 2; }; out=$1; shift ;;
  esac
done
[ -n "$out" ] || { usage >&2; exit 2; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
jobs=$(nproc)
t0=$(date +%s)
steps=()
log() { printf '[gpu_check %4ds] %s\n' "$(($(date +%s) - t0))" "$*" >&2; }
die() { log "error: $*"; exit 1; }
step_done() { steps+=("| $1 | $(($(date +%s) - $2)) s |"); }

# ------------------------------------------------------------------ the machine
export PATH="$PATH:/usr/local/cuda/bin"
if ((build_only == 0)); then
  command -v nvidia-smi >/dev/null || die "nvidia-smi not found: this script needs an NVIDIA GPU (or --build-only)"
  nvidia-smi -L >/dev/null 2>&1 || die "nvidia-smi sees no GPU"
fi
nvcc=$(command -v nvcc) || die "nvcc not found (looked in PATH and /usr/local/cuda/bin)"
command -v cmake >/dev/null || die "cmake not found"
command -v dpkg-deb >/dev/null || die "dpkg-deb not found"
python=${COREAI_OPT_PYTHON:-$(command -v python3)} || die "python3 not found"
need_gpu="assert torch.cuda.is_available(), 'torch sees no GPU'"
((build_only)) && need_gpu="pass"
torch_prefix=$("$python" -c "import torch, torch.utils; $need_gpu; print(torch.utils.cmake_prefix_path)" 2>"$out/torch_probe.err") ||
  die "$python cannot import a CUDA-enabled torch: $(tail -1 "$out/torch_probe.err")"
cap=""
((build_only)) || cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d ' .')
arch="${cap}-real"
[[ "$cap" =~ ^[0-9]+$ ]] || arch="80-real;89-real;90-real;90-virtual"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv || echo "no GPU"
  echo "nvcc: $("$nvcc" --version | tail -1)"
  echo "cmake: $(cmake --version | head -1)"
  echo "c++: $(c++ --version | head -1)"
  echo "torch: $("$python" -c 'import torch; print(torch.__version__, torch.version.cuda)')"
  echo "cores: $jobs"
  echo "compute-sanitizer: $(command -v compute-sanitizer || echo missing)"
  echo "git: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
} >"$out/env.txt" 2>&1
log "$(head -2 "$out/env.txt" | tail -1)"

# --------------------------------------------------------- dependencies (.debs)
s=$(date +%s)
shopt -s nullglob
packages=("$debs"/*.deb)
shopt -u nullglob
((${#packages[@]})) || die "no .deb files in $debs (make them with scripts/fetch_gpu_debs.sh, pass --debs DIR)"
prefix=$root/.deps/prefix
rm -rf "$prefix"
mkdir -p "$prefix"
for deb in "${packages[@]}"; do dpkg-deb -x "$deb" "$prefix"; done
log "unpacked ${#packages[@]} packages from $debs into $prefix"
step_done "unpack .debs" "$s"

# ------------------------------------------------------------ configure, build
s=$(date +%s)
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
log "configure ($build, CUDA architectures $arch)"
if ! cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    "-DCMAKE_PREFIX_PATH=$prefix/usr;$torch_prefix" -DCOREAI_OPT_PYTHON="$python" \
    -DCMAKE_CUDA_COMPILER="$nvcc" -DCOREAI_OPT_WITH_CUDA=ON \
    "-DCOREAI_OPT_CUDA_ARCHITECTURES=$arch" -DCOREAI_OPT_BUILD_EXAMPLES=OFF \
    >"$out/configure.log" 2>&1; then
  tail -30 "$out/configure.log" >&2 || true
  die "configure failed (configure.log)"
fi
step_done "configure" "$s"
s=$(date +%s)
targets=(coreai_opt_cuda_test coreai_opt_cuda_benchmarks)
grep -q coreai_opt_cuda_torch_baselines "$build/CMakeFiles/TargetDirectories.txt" 2>/dev/null &&
  targets+=(coreai_opt_cuda_torch_baselines)
# The torch ops on CUDA tensors (builds the coreai_opt_torch library with its CUDA backend).
torch_test_target=coreai_opt_torch_ops_cuda_test
have_torch_test=0
grep -q "$torch_test_target" "$build/CMakeFiles/TargetDirectories.txt" 2>/dev/null &&
  { targets+=("$torch_test_target"); have_torch_test=1; }
log "build with $jobs jobs: ${targets[*]}"
if ! cmake --build "$build" -j "$jobs" --target "${targets[@]}" >"$out/build.log" 2>&1; then
  grep -E "error|Error" "$out/build.log" | head -20 >&2 || true
  die "build failed (build.log)"
fi
step_done "build" "$s"
# Registers and stack of every kernel (occupancy is 65536 / (registers x 256) blocks per SM).
cuda_lib=$(find "$build/lib" -name 'libcoreai_opt_cuda.so*' -type f 2>/dev/null | head -1)
if command -v cuobjdump >/dev/null && [ -n "$cuda_lib" ]; then
  cuobjdump --dump-resource-usage "$cuda_lib" 2>&1 | awk '/Function/{f=$2} /REG:/{print $0, f}' |
    sed -E 's/^ +//' | { command -v c++filt >/dev/null && c++filt || cat; } >"$out/kernel_resources.txt" || true
fi
if ((build_only)); then
  log "built (--build-only): $build/tests/coreai_opt_cuda_test, $build/bin/coreai_opt_cuda_*"
  exit 0
fi

# ------------------------------------------------------------------------ tests
status=0
s=$(date +%s)
test_bin=$build/tests/coreai_opt_cuda_test
log "tests: $test_bin"
if "$test_bin" --gtest_output="xml:$out/cuda_test.xml" >"$out/cuda_test.log" 2>&1; then
  test_result="passed"
else
  test_result="FAILED"
  status=1
fi
test_line=$(grep -E '^\[  (PASSED|FAILED) ' "$out/cuda_test.log" | head -2 | tr '\n' ' ' || true)
skipped=$(grep -c '^\[  SKIPPED \]' "$out/cuda_test.log" || true)
log "tests $test_result: $test_line(skip lines: $skipped)"
grep -E "^\[  FAILED  \]" "$out/cuda_test.log" | head -20 >&2 || true
step_done "tests" "$s"

s=$(date +%s)
torch_test_bin=$build/tests/$torch_test_target
if ((have_torch_test)); then
  log "torch ops on CUDA: $torch_test_bin"
  if "$torch_test_bin" --gtest_output="xml:$out/torch_cuda_test.xml" >"$out/torch_cuda_test.log" 2>&1; then
    torch_test_result="passed"
  else
    torch_test_result="FAILED"
    status=1
  fi
  torch_test_line=$(grep -E '^\[  (PASSED|FAILED) ' "$out/torch_cuda_test.log" | head -2 | tr '\n' ' ' || true)
  torch_skipped=$(grep -c '^\[  SKIPPED \]' "$out/torch_cuda_test.log" || true)
  log "torch ops on CUDA $torch_test_result: $torch_test_line(skip lines: $torch_skipped)"
  grep -E "^\[  FAILED  \]" "$out/torch_cuda_test.log" | head -20 >&2 || true
else
  torch_test_result="FAILED (target $torch_test_target not configured: no CUDA-enabled torch layer)"
  torch_test_line=""
  status=1
  log "torch ops on CUDA: $torch_test_result"
fi
step_done "torch ops tests" "$s"

s=$(date +%s)
memcheck_result="not run (compute-sanitizer missing)"
if command -v compute-sanitizer >/dev/null; then
  # One case of each kernel family and both code paths (vector and element by element).
  filter='All/CudaInt.MisalignedPointersTakeTheElementPath/f32_int4:All/CudaInt.LargeTensorPerChannel/bf16_int8'
  filter+=':All/CudaFloat.MisalignedPointersTakeTheElementPath/*:All/CudaMxfp4.*/f32'
  filter+=':All/CudaMinMax.Misaligned/f16:CudaFp8Codes.*:CudaIntArguments.*:CudaMxfp4Arguments.*'
  log "compute-sanitizer memcheck on a subset"
  if compute-sanitizer --tool memcheck --error-exitcode 3 --leak-check full "$test_bin" \
      --gtest_filter="$filter" >"$out/memcheck.log" 2>&1; then
    memcheck_result="clean ($(grep -E '^\[  PASSED  \]' "$out/memcheck.log" | head -1 || true); $(grep 'ERROR SUMMARY' "$out/memcheck.log" | tail -1 | sed 's/=* *//' || true))"
  else
    memcheck_result="FAILED ($(grep -E 'ERROR SUMMARY|FAILED' "$out/memcheck.log" | tail -1 | sed 's/=* *//' || true))"
    status=1
  fi
  log "memcheck: $memcheck_result"
fi
step_done "compute-sanitizer memcheck" "$s"

# ------------------------------------------------------------------- benchmarks
s=$(date +%s)
log "benchmarks at ${sizes[*]} Mi elements"
"$build/bin/coreai_opt_cuda_benchmarks" "${sizes[@]}" >"$out/cuda_benchmarks.md" 2>&1 ||
  { status=1; log "coreai_opt_cuda_benchmarks failed"; }
if [ -x "$build/bin/coreai_opt_cuda_torch_baselines" ]; then
  "$build/bin/coreai_opt_cuda_torch_baselines" "${sizes[@]}" >"$out/cuda_torch_baselines.md" 2>&1 ||
    { status=1; log "coreai_opt_cuda_torch_baselines failed"; }
fi
step_done "benchmarks" "$s"

# ---------------------------------------------------------------------- summary
{
  echo "# coreai-opt-cpp GPU check"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), total $(($(date +%s) - t0)) s"
  echo
  echo '```'
  cat "$out/env.txt"
  echo '```'
  echo
  echo "## Tests (bit-exact against the CPU reference)"
  echo
  echo "- coreai_opt_cuda_test: **$test_result** — $test_line"
  echo "- $torch_test_target (torch ops, CUDA vs CPU tensors): **$torch_test_result** — $torch_test_line"
  grep '^\[ info \]' "$out/cuda_test.log" | sed 's/^\[ info \] /- /' || true
  echo "- compute-sanitizer memcheck subset: $memcheck_result"
  [ -s "$out/kernel_resources.txt" ] &&
    echo "- registers per kernel: kernel_resources.txt ($(wc -l <"$out/kernel_resources.txt") kernels)"
  echo
  echo "## Benchmarks"
  echo
  cat "$out/cuda_benchmarks.md"
  if [ -f "$out/cuda_torch_baselines.md" ]; then
    echo
    cat "$out/cuda_torch_baselines.md"
  fi
  echo
  echo "## Targets of the CUDA issue (scripts/gpu_targets.sh)"
  echo
  target_args=("$out/cuda_benchmarks.md")
  [ -f "$out/cuda_torch_baselines.md" ] && target_args+=("$out/cuda_torch_baselines.md")
  bash "$root/scripts/gpu_targets.sh" "${target_args[@]}" 2>&1 ||
    echo "(not every target could be evaluated: see the lines above)"
  echo
  echo "## Steps"
  echo
  echo "| step | time |"
  echo "|---|---:|"
  printf '%s\n' "${steps[@]}"
} >"$out/summary.md"
log "done in $(($(date +%s) - t0)) s: $out/summary.md"
exit "$status"
