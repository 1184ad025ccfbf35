// Scalar specification of the integer kernels (kernels/int.h): one element at a time,
// written to read like reference §2.6.
#include "coreai_opt/format/int.h"

#include <cmath>

#include "coreai_opt/kernels/int.h"

namespace coreai_opt::kernels::reference {
namespace {

struct Offsets {
  float scale;
  float code_offset;   // zero point (ZP) or quant_min (MINVAL)
  float float_offset;  // 0 (ZP) or minval (MINVAL)
};

Offsets offsets_of(const IntQuantParams& p, std::size_t i) {
  const std::size_t b = i / p.run_length;
  if (p.minval != nullptr) return {p.scale[b], static_cast<float>(p.quant_min), p.minval[b]};
  const float zp = p.zero_point != nullptr ? static_cast<float>(p.zero_point[b]) : 0.0f;
  return {p.scale[b], zp, 0.0f};
}

// round((x - float_offset) / scale) + code_offset, before clamping.
float rounded_code(float x, const Offsets& o) {
  return std::nearbyint((x - o.float_offset) / o.scale) + o.code_offset;
}

float clamp_code(float r, const IntQuantParams& p) {
  const auto lo = static_cast<float>(p.quant_min);
  const auto hi = static_cast<float>(p.quant_max);
  return r < lo ? lo : (r > hi ? hi : r);
}

float dequantize_code(float q, const Offsets& o) {
  return (q - o.code_offset) * o.scale + o.float_offset;
}

std::uint8_t code_byte(float x, const IntQuantParams& p, const Offsets& o) {
  const float r = rounded_code(x, o);
  const float q = std::isnan(r) ? o.code_offset : clamp_code(r, p);
  return static_cast<std::uint8_t>(static_cast<std::int32_t>(q) & 0xFF);
}

float code_value(std::uint8_t byte, const IntQuantParams& p) {
  return p.quant_min < 0 ? static_cast<float>(static_cast<std::int8_t>(byte))
                         : static_cast<float>(byte);
}

}  // namespace

void int_fake_quantize(const float* x, float* y, std::uint8_t* mask, std::size_t begin,
                       std::size_t end, const IntQuantParams& p) {
  for (std::size_t i = begin; i < end; ++i) {
    const Offsets o = offsets_of(p, i);
    const float r = rounded_code(x[i], o);
    const bool in_range =
        r >= static_cast<float>(p.quant_min) && r <= static_cast<float>(p.quant_max);
    y[i] = std::isnan(r) ? r : dequantize_code(clamp_code(r, p), o);
    if (mask != nullptr) mask[i] = in_range ? 1 : 0;
  }
}

void int_quantize(const float* x, std::uint8_t* codes, std::size_t begin, std::size_t end,
                  const IntQuantParams& p) {
  for (std::size_t i = begin; i < end; ++i) codes[i] = code_byte(x[i], p, offsets_of(p, i));
}

void int_dequantize(const std::uint8_t* codes, float* y, std::size_t begin, std::size_t end,
                    const IntQuantParams& p) {
  for (std::size_t i = begin; i < end; ++i) {
    y[i] = dequantize_code(code_value(codes[i], p), offsets_of(p, i));
  }
}

void int_quantize_packed4(const float* x, std::uint8_t* packed, std::size_t begin, std::size_t end,
                          const IntQuantParams& p) {
  for (std::size_t i = begin; i < end; i += 2) {
    const std::uint8_t lo = code_byte(x[i], p, offsets_of(p, i));
    const std::uint8_t hi = i + 1 < end ? code_byte(x[i + 1], p, offsets_of(p, i + 1)) : 0;
    packed[i / 2] = pack_nibbles(lo, hi);
  }
}

void int_dequantize_packed4(const std::uint8_t* packed, float* y, std::size_t begin,
                            std::size_t end, const IntQuantParams& p) {
  for (std::size_t i = begin; i < end; ++i) {
    const std::uint8_t b = packed[i / 2];
    const std::uint8_t nib = i % 2 == 0 ? low_nibble(b) : high_nibble(b);
    const float q =
        p.quant_min < 0 ? static_cast<float>(sign_extend_nibble(nib)) : static_cast<float>(nib);
    y[i] = dequantize_code(q, offsets_of(p, i));
  }
}

}  // namespace coreai_opt::kernels::reference
