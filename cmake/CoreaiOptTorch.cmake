# Locating LibTorch.
#
# LibTorch comes from the PyPI `torch` wheel. Its CMake files live at
# `torch.utils.cmake_prefix_path`. Torch is searched only when no `torch` target
# exists yet, so a consumer that already called find_package(Torch) keeps its
# own. Otherwise, in order:
#   1. Torch_DIR / CMAKE_PREFIX_PATH as the caller set them;
#   2. the LibTorch this package was built against (COREAI_OPT_BUILT_TORCH_DIR,
#      recorded by the installed package config), when it still exists;
#   3. the `torch` package of a Python interpreter: COREAI_OPT_PYTHON, else a
#      `.venv` next to the project, else `python3` on PATH.
# When none has it, configuration stops with a message that names each of these.
macro(coreai_opt_find_torch)
  if(NOT TARGET torch)
    find_package(Torch CONFIG QUIET)
    if(NOT Torch_FOUND AND COREAI_OPT_BUILT_TORCH_DIR AND EXISTS "${COREAI_OPT_BUILT_TORCH_DIR}")
      find_package(Torch CONFIG QUIET PATHS "${COREAI_OPT_BUILT_TORCH_DIR}" NO_DEFAULT_PATH)
    endif()
    if(NOT Torch_FOUND)
      set(_coreai_opt_py "${COREAI_OPT_PYTHON}")
      if(NOT _coreai_opt_py)
        foreach(_cand "${CMAKE_SOURCE_DIR}/.venv/bin/python" "${PROJECT_SOURCE_DIR}/.venv/bin/python")
          if(EXISTS "${_cand}")
            set(_coreai_opt_py "${_cand}")
            break()
          endif()
        endforeach()
      endif()
      if(NOT _coreai_opt_py)
        find_program(_coreai_opt_py NAMES python3 python)
      endif()
      if(_coreai_opt_py)
        execute_process(
          COMMAND "${_coreai_opt_py}" -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
          OUTPUT_VARIABLE _coreai_opt_torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE
          RESULT_VARIABLE _coreai_opt_rc ERROR_QUIET)
        if(_coreai_opt_rc EQUAL 0)
          list(APPEND CMAKE_PREFIX_PATH "${_coreai_opt_torch_prefix}")
        endif()
      endif()
      find_package(Torch CONFIG QUIET)
    endif()
    if(NOT Torch_FOUND)
      message(FATAL_ERROR
        "coreai_opt: LibTorch not found. coreai_opt::torch needs the LibTorch it was built "
        "against${COREAI_OPT_BUILT_TORCH_VERSION_TEXT}. Do one of:\n"
        "  - call find_package(Torch) before find_package(coreai_opt);\n"
        "  - pass -DTorch_DIR=<dir with TorchConfig.cmake> (for the PyPI wheel: "
        "python -c 'import torch.utils; print(torch.utils.cmake_prefix_path)' plus /Torch);\n"
        "  - pass -DCOREAI_OPT_PYTHON=<python with the torch wheel installed>.\n"
        "Tried: Torch_DIR and CMAKE_PREFIX_PATH, the build-time LibTorch "
        "'${COREAI_OPT_BUILT_TORCH_DIR}', and Python '${_coreai_opt_py}'.")
    endif()
  endif()
endmacro()
