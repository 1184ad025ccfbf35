#!/usr/bin/env bash
# Builds everything (libraries, tools, tests, benchmarks, examples) and runs every
# test through ctest. Non-zero exit on any failure.
#
#   scripts/test.sh            setup if needed, Release build in build/, ctest
#   scripts/test.sh --ci       the same with -Werror, then the torch-free core
#                              tests again under ASan+UBSan (build-asan/)
#
# Extra CMake arguments: COREAI_OPT_CMAKE_ARGS="-DFOO=BAR".
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
ci=0
for arg in "$@"; do
  case "$arg" in
    --ci) ci=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

jobs=$(nproc)
bash scripts/setup.sh

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
werror=OFF
[ "$ci" -eq 1 ] && werror=ON

step() { printf '\n=== %s\n' "$*"; }

step "configure (build/)"
# shellcheck disable=SC2086
cmake -S . -B build "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCOREAI_OPT_PYTHON="$root/.venv/bin/python" -DCOREAI_OPT_WERROR=$werror \
  ${COREAI_OPT_CMAKE_ARGS:-}
step "build"
cmake --build build -j "$jobs"
step "test"
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 900

if [ "$ci" -eq 1 ]; then
  step "core tests under ASan+UBSan (build-asan/)"
  cmake -S . -B build-asan "${generator[@]}" -DCMAKE_BUILD_TYPE=Debug \
    -DCOREAI_OPT_SANITIZE=ON -DCOREAI_OPT_WERROR=ON -DCOREAI_OPT_BUILD_TOOLS=ON
  cmake --build build-asan -j "$jobs"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j "$jobs" --timeout 900
fi
step "all tests passed"
