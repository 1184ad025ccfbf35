# Locating LibTorch.
#
# LibTorch comes from the PyPI `torch` wheel. Its CMake files live at
# `torch.utils.cmake_prefix_path`; when Torch is not already findable we ask the
# Python interpreter for that path (COREAI_OPT_PYTHON, else a `.venv` next to the
# project that includes this file, else `python3` on PATH).
#
# Torch is searched only when no `torch` target exists yet, so a consumer that
# already called find_package(Torch) keeps its own.
macro(coreai_opt_find_torch)
  if(NOT TARGET torch)
    find_package(Torch CONFIG QUIET)
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
      find_package(Torch CONFIG REQUIRED)
    endif()
  endif()
endmacro()
