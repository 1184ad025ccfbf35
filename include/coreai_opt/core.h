// The torch-free core in one include: formats, the config model and its I/O,
// the plan vocabulary, the resolution engine and the kernels. Programs that
// also use LibTorch include <coreai_opt/coreai_opt.h> instead.
#pragma once

#include "coreai_opt/errors.h"
#include "coreai_opt/format/dtype.h"
#include "coreai_opt/format/e8m0.h"
#include "coreai_opt/format/fp4.h"
#include "coreai_opt/format/fp8.h"
#include "coreai_opt/format/int.h"
#include "coreai_opt/kernels/blockwise.h"
#include "coreai_opt/kernels/fp4.h"
#include "coreai_opt/kernels/fp8.h"
#include "coreai_opt/kernels/int.h"
#include "coreai_opt/kernels/minmax.h"
#include "coreai_opt/kernels/qparams.h"
#include "coreai_opt/quantization/axis_defaults.h"
#include "coreai_opt/quantization/config.h"
#include "coreai_opt/quantization/module_types.h"
#include "coreai_opt/quantization/plan.h"
#include "coreai_opt/quantization/resolution.h"
#include "coreai_opt/quantization/schema.h"
#include "coreai_opt/quantization/spec.h"
#include "coreai_opt/warnings.h"
