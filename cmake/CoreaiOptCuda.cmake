# Resolves COREAI_OPT_WITH_CUDA (ON, OFF or AUTO) into COREAI_OPT_CUDA_ENABLED and enables
# the CUDA language for the coreai_opt::cuda kernels.
#
# AUTO is on when a CUDA compiler is found and LibTorch, if the torch layer is built, was
# built with CUDA (CAFFE2_USE_CUDA from its CMake files); ON fails without a compiler.
# COREAI_OPT_CUDA_ARCHITECTURES lists the GPU targets of our CUDA targets (default: machine
# code for sm_80, sm_89 and sm_90 and PTX for compute_90, which later GPUs JIT-compile).
include(CheckLanguage)

set(COREAI_OPT_CUDA_ARCHITECTURES "80-real;89-real;90-real;90-virtual" CACHE STRING
    "CUDA architectures of the coreai_opt CUDA targets (CMake CUDA_ARCHITECTURES syntax)")

string(TOUPPER "${COREAI_OPT_WITH_CUDA}" _coreai_opt_cuda_mode)
set(COREAI_OPT_CUDA_ENABLED OFF)
if(_coreai_opt_cuda_mode STREQUAL "AUTO")
  if(CMAKE_CUDA_COMPILER)
    set(_coreai_opt_nvcc "${CMAKE_CUDA_COMPILER}")
  else()
    check_language(CUDA)
    set(_coreai_opt_nvcc "${CMAKE_CUDA_COMPILER}")
  endif()
  if(NOT _coreai_opt_nvcc)
    message(STATUS "coreai_opt: CUDA kernels off (AUTO): no CUDA compiler found")
  elseif(COREAI_OPT_WITH_TORCH AND NOT CAFFE2_USE_CUDA)
    message(STATUS "coreai_opt: CUDA kernels off (AUTO): LibTorch was built without CUDA")
  else()
    set(COREAI_OPT_CUDA_ENABLED ON)
  endif()
elseif(_coreai_opt_cuda_mode STREQUAL "ON" OR _coreai_opt_cuda_mode STREQUAL "TRUE" OR
       _coreai_opt_cuda_mode STREQUAL "1")
  set(COREAI_OPT_CUDA_ENABLED ON)
elseif(NOT (_coreai_opt_cuda_mode STREQUAL "OFF" OR _coreai_opt_cuda_mode STREQUAL "FALSE" OR
            _coreai_opt_cuda_mode STREQUAL "0"))
  message(FATAL_ERROR "COREAI_OPT_WITH_CUDA must be ON, OFF or AUTO, got '${COREAI_OPT_WITH_CUDA}'")
endif()

if(COREAI_OPT_CUDA_ENABLED)
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
  message(STATUS "coreai_opt: CUDA kernels on (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, "
                 "architectures ${COREAI_OPT_CUDA_ARCHITECTURES})")
endif()

# coreai_opt_cuda_target(target): the CUDA settings every coreai_opt CUDA target shares.
# No fused multiply-add contraction and no fast math: the kernels are bit-exact with the
# scalar reference. The CUDA runtime is linked statically, so consumers of the installed
# package need no CUDA toolkit, only a driver at run time.
function(coreai_opt_cuda_target target)
  set_target_properties(${target} PROPERTIES
    CUDA_ARCHITECTURES "${COREAI_OPT_CUDA_ARCHITECTURES}"
    CUDA_STANDARD 17 CUDA_STANDARD_REQUIRED ON CUDA_EXTENSIONS OFF
    CUDA_RUNTIME_LIBRARY Static)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:--fmad=false -Xcompiler=-Wall,-Wextra>)
endfunction()

# coreai_opt_cuda_directory(): call first in a directory with CUDA targets. LibTorch's CMake
# files append their own nvcc flags to CMAKE_CUDA_FLAGS (-gencode lists for the
# architectures torch was built for, some of which a newer nvcc rejects, and flags meant for
# torch extensions); our kernels need none of them, so the directory goes back to the flags
# the user configured.
macro(coreai_opt_cuda_directory)
  set(CMAKE_CUDA_FLAGS "$CACHE{CMAKE_CUDA_FLAGS}")
endmacro()
