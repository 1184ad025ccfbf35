// A plain LibTorch program: loads a prepared or finalized coreai_opt model and
// checks that its output equals, bit for bit, the one the quantizing process
// computed. It includes no coreai_opt header; linking coreai_opt::torch (kept by
// its --no-as-needed link option) registers the coreai_opt ops and the
// FakeQuantizeSpec class before torch::jit::load.
// usage: load_quantized MODEL.pt INPUTS.pt EXPECTED.pt
#include <torch/script.h>

#include <cstdio>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: load_quantized MODEL.pt INPUTS.pt EXPECTED.pt\n");
    return 2;
  }
  torch::jit::Module model = torch::jit::load(argv[1]);
  torch::jit::Module inputs = torch::jit::load(argv[2]);
  torch::jit::Module expected = torch::jit::load(argv[3]);
  std::vector<c10::IValue> args;
  for (int i = 0; inputs.hasattr("input" + std::to_string(i)); ++i)
    args.emplace_back(inputs.attr("input" + std::to_string(i)));
  torch::NoGradGuard no_grad;
  const c10::IValue out = model.forward(args);
  const at::Tensor h =
      out.isTuple() ? out.toTupleRef().elements().at(1).toTensor() : out.toTensor();
  if (!at::equal(h, expected.attr("output").toTensor())) {
    std::fprintf(stderr, "output differs from the one the quantizing process computed\n");
    return 1;
  }
  std::printf("load_quantized ok: %s\n", argv[1]);
  return 0;
}
