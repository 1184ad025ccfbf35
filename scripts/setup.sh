#!/usr/bin/env bash
# Takes a fresh Debian 12 machine to ready for building and testing coreai-opt-cpp.
# Idempotent: a second run only checks and exits.
#
#   scripts/setup.sh            system packages + .venv with LibTorch (torch==2.11.0 wheel)
#
# Environment: COREAI_OPT_TORCH_VERSION (default 2.11.0), COREAI_OPT_VENV (default .venv).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${COREAI_OPT_VENV:-$root/.venv}
torch_version=${COREAI_OPT_TORCH_VERSION:-2.11.0}

log() { printf '[setup] %s\n' "$*" >&2; }

# ------------------------------------------------------------- Debian packages
apt_packages=(build-essential cmake ninja-build pkg-config python3 python3-venv
  libyaml-cpp-dev nlohmann-json3-dev libfmt-dev
  googletest libgtest-dev libgmock-dev libbenchmark-dev libhwy-dev
  zlib1g-dev)  # zlib: examples/qat_digits reads digits.csv.gz
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  log "installing Debian packages: ${missing[*]}"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi

# ------------------------------------------------------------------- LibTorch
# The PyPI wheel carries LibTorch (headers, libraries, CMake files). Its CUDA
# runtime dependencies are several GB of wheels; most of them duplicate the CUDA
# toolkit libraries many machines already have. So the wheel is installed
# without dependencies, then only the shared libraries the dynamic loader cannot
# find are installed from their own wheels.
py() { "$venv/bin/python" "$@"; }
pip_install() { "$venv/bin/python" -m pip install --quiet --no-input --no-warn-conflicts "$@"; }

if [ ! -x "$venv/bin/python" ]; then
  log "creating $venv"
  python3 -m venv "$venv"
fi
if ! py -c "import torch, sys; sys.exit(0 if torch.__version__.split('+')[0] == '$torch_version' else 1)" 2>/dev/null; then
  log "installing torch==$torch_version (without its CUDA wheels)"
  pip_install --no-deps "torch==$torch_version"
  pip_install filelock "typing-extensions>=4.10.0" "setuptools<82" "sympy>=1.13.3" \
    "networkx>=2.5.1" jinja2 "fsspec>=0.8.5" numpy
fi
# scikit-learn ships the UCI handwritten-digits data (digits.csv.gz) that
# examples/qat_digits trains on.
if ! py -c "import sklearn" 2>/dev/null; then
  log "installing scikit-learn (digits data for examples/qat_digits)"
  pip_install scikit-learn
fi

# Pinned Python packages of the demo (scripts/demo/) and of the conformance suite
# (tests/conformance/: the Python reference coreai-opt). Installed without
# dependency resolution, so pip never replaces the torch installed above; each file
# lists every package (with its version) that its scripts import, directly or not.
for req in "$root/scripts/demo/requirements.txt" "$root/tests/conformance/requirements.txt"; do
  [ -f "$req" ] || continue
  stamp="$venv/.$(basename "$(dirname "$req")")-requirements.sha256"
  sum=$(sha256sum "$req" | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
    log "installing the packages of ${req#$root/}"
    pip_install --no-deps -r "$req"
    echo "$sum" > "$stamp"
  fi
done

torch_lib=$("$venv/bin/python" - <<'PY'
import importlib.util, os
spec = importlib.util.find_spec("torch")
print(os.path.join(os.path.dirname(spec.origin), "lib"))
PY
)
# Libraries libtorch needs that this machine lacks -> the wheel that ships them
# (versions pinned by torch 2.11.0's own requirements).
declare -A wheel_for=(
  [libcufile.so.0]="nvidia-cufile==1.15.1.6"
  [libcusparseLt.so.0]="nvidia-cusparselt-cu13==0.8.0"
  [libnvshmem_host.so.3]="nvidia-nvshmem-cu13==3.4.5"
  [libcudnn.so.9]="nvidia-cudnn-cu13==9.19.0.56"
  [libnccl.so.2]="nvidia-nccl-cu13==2.28.9"
)
cuda_toolkit_wheel="cuda-toolkit[cublas,cudart,cufft,cufile,cupti,curand,cusolver,cusparse,nvjitlink,nvrtc,nvtx]==13.0.2"
for attempt in 1 2; do
  notfound=$(ldd "$torch_lib/libtorch.so" "$torch_lib/libtorch_cuda.so" 2>/dev/null |
    awk '/not found/ {print $1}' | sort -u)
  [ -z "$notfound" ] && break
  wheels=()
  for lib in $notfound; do
    if [ -n "${wheel_for[$lib]:-}" ]; then
      wheels+=("${wheel_for[$lib]}")
    else
      wheels+=("$cuda_toolkit_wheel")  # cudart, cublas, cufft, ... : no local CUDA 13 toolkit
    fi
  done
  mapfile -t wheels < <(printf '%s\n' "${wheels[@]}" | sort -u)
  log "libtorch needs libraries this machine lacks ($(echo $notfound)); installing ${wheels[*]}"
  pip_install --no-deps "${wheels[@]}"
  if printf '%s\n' "${wheels[@]}" | grep -q cuda-toolkit; then
    pip_install "$cuda_toolkit_wheel"
  fi
done
if ldd "$torch_lib/libtorch.so" | grep -q "not found"; then
  log "error: libtorch still misses shared libraries:"
  ldd "$torch_lib/libtorch.so" | grep "not found" >&2
  exit 1
fi
log "ready: torch $(py -c 'import torch; print(torch.__version__)') in $venv"
