// Everything in one include for LibTorch applications: the torch-free core
// (<coreai_opt/core.h>) and the LibTorch layer: the Quantizer, the inspector,
// the fake-quantization point, the tensor ops, the coreai_opt::nn drop-in
// modules and the model / batch loaders.
//
//   #include <coreai_opt/coreai_opt.h>
//   namespace cq = coreai_opt::quantization;
//   cq::Quantizer q(model, cq::QuantizerConfig::from_yaml("w8a8.yaml"));
#pragma once

#include "coreai_opt/core.h"
#include "coreai_opt/torch/fake_quantize.h"
#include "coreai_opt/torch/inspector.h"
#include "coreai_opt/torch/io.h"
#include "coreai_opt/torch/module_types.h"
#include "coreai_opt/torch/nn.h"
#include "coreai_opt/torch/ops.h"
#include "coreai_opt/torch/quantizer.h"
