#include "coreai_opt/quantization/module_types.h"

#include <array>
#include <utility>

namespace coreai_opt {
namespace quantization {

namespace {

// C++ frontend class (without `torch::nn::` and `Impl`) -> Python module path.
constexpr std::array<std::pair<std::string_view, std::string_view>, 72> kBuiltins = {{
    {"Linear", "torch.nn.modules.linear.Linear"},
    {"Bilinear", "torch.nn.modules.linear.Bilinear"},
    {"Identity", "torch.nn.modules.linear.Identity"},
    {"Flatten", "torch.nn.modules.flatten.Flatten"},
    {"Unflatten", "torch.nn.modules.flatten.Unflatten"},
    {"Conv1d", "torch.nn.modules.conv.Conv1d"},
    {"Conv2d", "torch.nn.modules.conv.Conv2d"},
    {"Conv3d", "torch.nn.modules.conv.Conv3d"},
    {"ConvTranspose1d", "torch.nn.modules.conv.ConvTranspose1d"},
    {"ConvTranspose2d", "torch.nn.modules.conv.ConvTranspose2d"},
    {"ConvTranspose3d", "torch.nn.modules.conv.ConvTranspose3d"},
    {"Embedding", "torch.nn.modules.sparse.Embedding"},
    {"EmbeddingBag", "torch.nn.modules.sparse.EmbeddingBag"},
    {"BatchNorm1d", "torch.nn.modules.batchnorm.BatchNorm1d"},
    {"BatchNorm2d", "torch.nn.modules.batchnorm.BatchNorm2d"},
    {"BatchNorm3d", "torch.nn.modules.batchnorm.BatchNorm3d"},
    {"InstanceNorm1d", "torch.nn.modules.instancenorm.InstanceNorm1d"},
    {"InstanceNorm2d", "torch.nn.modules.instancenorm.InstanceNorm2d"},
    {"InstanceNorm3d", "torch.nn.modules.instancenorm.InstanceNorm3d"},
    {"LayerNorm", "torch.nn.modules.normalization.LayerNorm"},
    {"GroupNorm", "torch.nn.modules.normalization.GroupNorm"},
    {"LocalResponseNorm", "torch.nn.modules.normalization.LocalResponseNorm"},
    {"CrossMapLRN2d", "torch.nn.modules.normalization.CrossMapLRN2d"},
    {"ReLU", "torch.nn.modules.activation.ReLU"},
    {"ReLU6", "torch.nn.modules.activation.ReLU6"},
    {"RReLU", "torch.nn.modules.activation.RReLU"},
    {"LeakyReLU", "torch.nn.modules.activation.LeakyReLU"},
    {"PReLU", "torch.nn.modules.activation.PReLU"},
    {"ELU", "torch.nn.modules.activation.ELU"},
    {"SELU", "torch.nn.modules.activation.SELU"},
    {"CELU", "torch.nn.modules.activation.CELU"},
    {"GELU", "torch.nn.modules.activation.GELU"},
    {"SiLU", "torch.nn.modules.activation.SiLU"},
    {"Mish", "torch.nn.modules.activation.Mish"},
    {"Sigmoid", "torch.nn.modules.activation.Sigmoid"},
    {"LogSigmoid", "torch.nn.modules.activation.LogSigmoid"},
    {"Tanh", "torch.nn.modules.activation.Tanh"},
    {"Hardtanh", "torch.nn.modules.activation.Hardtanh"},
    {"Hardshrink", "torch.nn.modules.activation.Hardshrink"},
    {"Softshrink", "torch.nn.modules.activation.Softshrink"},
    {"Tanhshrink", "torch.nn.modules.activation.Tanhshrink"},
    {"Softplus", "torch.nn.modules.activation.Softplus"},
    {"Softsign", "torch.nn.modules.activation.Softsign"},
    {"Threshold", "torch.nn.modules.activation.Threshold"},
    {"GLU", "torch.nn.modules.activation.GLU"},
    {"Softmax", "torch.nn.modules.activation.Softmax"},
    {"Softmin", "torch.nn.modules.activation.Softmin"},
    {"LogSoftmax", "torch.nn.modules.activation.LogSoftmax"},
    {"Softmax2d", "torch.nn.modules.activation.Softmax2d"},
    {"MultiheadAttention", "torch.nn.modules.activation.MultiheadAttention"},
    {"Dropout", "torch.nn.modules.dropout.Dropout"},
    {"Dropout2d", "torch.nn.modules.dropout.Dropout2d"},
    {"Dropout3d", "torch.nn.modules.dropout.Dropout3d"},
    {"MaxPool1d", "torch.nn.modules.pooling.MaxPool1d"},
    {"MaxPool2d", "torch.nn.modules.pooling.MaxPool2d"},
    {"MaxPool3d", "torch.nn.modules.pooling.MaxPool3d"},
    {"AvgPool1d", "torch.nn.modules.pooling.AvgPool1d"},
    {"AvgPool2d", "torch.nn.modules.pooling.AvgPool2d"},
    {"AvgPool3d", "torch.nn.modules.pooling.AvgPool3d"},
    {"AdaptiveAvgPool1d", "torch.nn.modules.pooling.AdaptiveAvgPool1d"},
    {"AdaptiveAvgPool2d", "torch.nn.modules.pooling.AdaptiveAvgPool2d"},
    {"AdaptiveAvgPool3d", "torch.nn.modules.pooling.AdaptiveAvgPool3d"},
    {"AdaptiveMaxPool2d", "torch.nn.modules.pooling.AdaptiveMaxPool2d"},
    {"Sequential", "torch.nn.modules.container.Sequential"},
    {"ModuleList", "torch.nn.modules.container.ModuleList"},
    {"ModuleDict", "torch.nn.modules.container.ModuleDict"},
    {"LSTM", "torch.nn.modules.rnn.LSTM"},
    {"GRU", "torch.nn.modules.rnn.GRU"},
    {"RNN", "torch.nn.modules.rnn.RNN"},
    {"TransformerEncoderLayer", "torch.nn.modules.transformer.TransformerEncoderLayer"},
    {"TransformerDecoderLayer", "torch.nn.modules.transformer.TransformerDecoderLayer"},
    {"PixelShuffle", "torch.nn.modules.pixelshuffle.PixelShuffle"},
}};

}  // namespace

std::optional<std::string> python_module_type(std::string_view name) {
  constexpr std::string_view kNs = "torch::nn::";
  if (name.substr(0, kNs.size()) != kNs) return std::nullopt;
  name.remove_prefix(kNs.size());
  constexpr std::string_view kImpl = "Impl";
  if (name.size() > kImpl.size() && name.substr(name.size() - kImpl.size()) == kImpl) {
    name.remove_suffix(kImpl.size());
  }
  for (const auto& [cpp, py] : kBuiltins) {
    if (cpp == name) return std::string(py);
  }
  return std::nullopt;
}

std::string module_type_key(std::string_view cpp_class_name) {
  if (auto py = python_module_type(cpp_class_name)) return *py;
  return std::string(cpp_class_name);
}

}  // namespace quantization
}  // namespace coreai_opt
