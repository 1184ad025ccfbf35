#!/usr/bin/env bash
# Downloads the Debian packages that scripts/gpu_check.sh unpacks on a GPU machine without
# a package registry: the build dependencies of coreai-opt-cpp other than the compiler,
# CMake, the CUDA toolkit and LibTorch (which such a machine has), with their runtime
# libraries. Run it here, where apt works, then carry DIR to the GPU machine.
#
#   scripts/fetch_gpu_debs.sh [DIR]      default DIR: .deps/debs (git-ignored)
#
# The .debs are for this machine's Debian release (x86-64); gpu_check.sh unpacks them into
# a private prefix, so they never touch the GPU machine's system packages.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${1:-$root/.deps/debs}
log() { printf '[fetch_gpu_debs] %s\n' "$*" >&2; }

command -v apt-get >/dev/null || { log "error: apt-get not found (a Debian machine is needed)"; exit 1; }

# Development packages, and the library families whose runtime packages come with them.
dev_packages=(libyaml-cpp-dev nlohmann-json3-dev libfmt-dev libhwy-dev libgtest-dev libgmock-dev
              libbenchmark-dev)
families='^(libyaml-cpp|libfmt|libhwy|libgtest|libgmock|libbenchmark)'

packages=("${dev_packages[@]}")
for p in "${dev_packages[@]}"; do
  deps=$(apt-cache depends --important "$p" 2>/dev/null |
         awk '$1 == "Depends:" {print $2}' | grep -E "$families" || true)
  for d in $deps; do packages+=("${d%%:*}"); done
done
mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u)

mkdir -p "$dir"
rm -f "$dir"/*.deb
log "downloading into $dir: ${packages[*]}"
sandbox=()
[ "$(id -u)" -eq 0 ] && sandbox=(-o APT::Sandbox::User=root)  # root writes DIR itself
if ! (cd "$dir" && apt-get "${sandbox[@]}" download "${packages[@]}"); then
  log "error: apt-get download failed; run 'apt-get update' first and retry"
  exit 1
fi
log "done: $(ls "$dir"/*.deb | wc -l) packages, $(du -sh "$dir" | cut -f1)"
ls -1 "$dir"
