#include "kernels/conv.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/conv.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/simd-inl.h"

HWY_BEFORE_NAMESPACE();
namespace genzoo::conv_kernels::HWY_NAMESPACE {
namespace {

namespace hn = hwy::HWY_NAMESPACE;
using genzoo::kernels::HWY_NAMESPACE::FloatTag;
using genzoo::kernels::HWY_NAMESPACE::FloatVec;
using genzoo::kernels::HWY_NAMESPACE::kFloatLanes;
using genzoo::kernels::HWY_NAMESPACE::exp_vec;
using genzoo::kernels::HWY_NAMESPACE::reciprocal;
using genzoo::kernels::HWY_NAMESPACE::kVectorRegisters;
using genzoo::kernels::HWY_NAMESPACE::sum_of_lanes;
using genzoo::kernels::HWY_NAMESPACE::sums_of_four;
using genzoo::kernels::HWY_NAMESPACE::width_tiles;

#define GENZOO_UNROLL _Pragma("GCC unroll 16")

// One 16-sample lane block in the target's registers: kParts vectors (1 on AVX-512, 2 on AVX2, 4 on SSE4).
constexpr int kParts = static_cast<int>(kLanes / kFloatLanes);
static_assert(kParts >= 1 && kLanes % kFloatLanes == 0, "a lane block must be a whole number of vectors");

struct Block {
  FloatVec part[kParts];
};

// Lane blocks a tile may keep as accumulators: about half the register file, the rest holds
// broadcast weights and loaded inputs (AVX-512: 16 blocks, AVX2: 4, SSE4: 2).
constexpr int kAccumulatorBlocks = std::max(1, (kVectorRegisters / 2) / kParts);
// Output channels per tile: each loaded input block serves this many channels.
constexpr int kChannelBlock = std::min(4, kAccumulatorBlocks);
// Output pixels per tile of a full channel block, and of a single leftover channel.
constexpr int kTileWidth = std::max(1, kAccumulatorBlocks / kChannelBlock);
constexpr int kSingleChannelWidth = std::min(8, kAccumulatorBlocks);

HWY_INLINE Block load(const float* p) {
  const FloatTag d;
  Block b;
  GENZOO_UNROLL
  for (int i = 0; i < kParts; ++i) b.part[i] = hn::LoadU(d, p + i * kFloatLanes);
  return b;
}
HWY_INLINE void store(float* p, const Block& b) {
  const FloatTag d;
  GENZOO_UNROLL
  for (int i = 0; i < kParts; ++i) hn::StoreU(b.part[i], d, p + i * kFloatLanes);
}
HWY_INLINE Block splat(float s) {
  const FloatTag d;
  Block b;
  GENZOO_UNROLL
  for (int i = 0; i < kParts; ++i) b.part[i] = hn::Set(d, s);
  return b;
}
HWY_INLINE Block zero() { return splat(0.0f); }

// Element-wise f over the parts of blocks.
template <class F>
HWY_INLINE Block map(const Block& a, F f) {
  Block r;
  GENZOO_UNROLL
  for (int i = 0; i < kParts; ++i) r.part[i] = f(a.part[i]);
  return r;
}
template <class F>
HWY_INLINE Block map(const Block& a, const Block& b, F f) {
  Block r;
  GENZOO_UNROLL
  for (int i = 0; i < kParts; ++i) r.part[i] = f(a.part[i], b.part[i]);
  return r;
}

HWY_INLINE Block operator+(const Block& a, const Block& b) { return map(a, b, [](FloatVec x, FloatVec y) { return hn::Add(x, y); }); }
HWY_INLINE Block operator-(const Block& a, const Block& b) { return map(a, b, [](FloatVec x, FloatVec y) { return hn::Sub(x, y); }); }
HWY_INLINE Block operator*(const Block& a, const Block& b) { return map(a, b, [](FloatVec x, FloatVec y) { return hn::Mul(x, y); }); }
HWY_INLINE Block& operator+=(Block& a, const Block& b) { return a = a + b; }
// a + b * c, fused.
HWY_INLINE Block mul_add(const Block& b, const Block& c, const Block& a) {
  Block r;
  GENZOO_UNROLL
  for (int i = 0; i < kParts; ++i) r.part[i] = hn::MulAdd(b.part[i], c.part[i], a.part[i]);
  return r;
}
// The block's parts added into one vector (its lane sums are the block's).
HWY_INLINE FloatVec fold_parts(const Block& b) {
  FloatVec s = b.part[0];
  GENZOO_UNROLL
  for (int i = 1; i < kParts; ++i) s = hn::Add(s, b.part[i]);
  return s;
}
HWY_INLINE float sum_lanes(const Block& b) { return sum_of_lanes(fold_parts(b)); }

HWY_INLINE Block apply(Epilogue epilogue, const Block& v, const float* mask) {
  // Written so that NaN passes through, as in torch::relu: a diverged model must reach its loss.
  const FloatTag d;
  const FloatVec zero_v = hn::Zero(d), slope = hn::Set(d, kLeakySlope);
  switch (epilogue) {
    case Epilogue::kRelu:
      return map(v, [&](FloatVec x) { return hn::IfThenZeroElse(x <= zero_v, x); });
    case Epilogue::kMaskBy:
      return map(v, load(mask), [&](FloatVec x, FloatVec m) { return hn::IfThenElseZero(m > zero_v, x); });
    case Epilogue::kLeakyRelu:
      return map(v, [&](FloatVec x) { return hn::IfThenElse(x < zero_v, hn::Mul(slope, x), x); });
    case Epilogue::kLeakyMaskBy:
      return map(v, load(mask), [&](FloatVec x, FloatVec m) { return hn::IfThenElse(m > zero_v, x, hn::Mul(slope, x)); });
    case Epilogue::kNone:
      break;
  }
  return v;
}

// Output-channel blocks of kChannelBlock channels, then single channels.
template <class Tile>
HWY_INLINE void channel_blocks(int64_t channels, Tile&& tile) {
  int64_t c = 0;
  for (; c + kChannelBlock <= channels; c += kChannelBlock) tile(std::integral_constant<int, kChannelBlock>{}, c);
  for (; c < channels; ++c) tile(std::integral_constant<int, 1>{}, c);
}

template <int Channels, int Width>
HWY_INLINE void store_tile(Block (&acc)[Channels][Width], const Grid& out, int64_t c0, int64_t y, int64_t x0,
                           int64_t x_step, Epilogue epilogue, const Grid* mask) {
  GENZOO_UNROLL
  for (int c = 0; c < Channels; ++c) {
    GENZOO_UNROLL
    for (int t = 0; t < Width; ++t) {
      const int64_t x = x0 + t * x_step;
      store(out.at(c0 + c, y, x), apply(epilogue, acc[c][t], mask ? mask->at(c0 + c, y, x) : nullptr));
    }
  }
}

template <int Channels, int Width>
HWY_INLINE void init_tile(Block (&acc)[Channels][Width], const float* bias, int64_t c0) {
  GENZOO_UNROLL
  for (int c = 0; c < Channels; ++c) {
    const Block b = bias ? splat(bias[c0 + c]) : zero();
    GENZOO_UNROLL
    for (int t = 0; t < Width; ++t) acc[c][t] = b;
  }
}

// Channels output channels x Width consecutive output pixels of one row of conv.
template <int Channels, int Width>
HWY_NOINLINE void conv_tile(const Grid& in, const float* weight, const float* bias, const Grid& out, Epilogue epilogue,
                            const Grid* mask, int64_t co0, int64_t oy, int64_t ox0) {
  Block acc[Channels][Width];
  init_tile(acc, bias, co0);
  const int64_t taps = kTaps * kTaps, per_out = in.channels * taps;
  const int64_t row_stride = in.padded() * kLanes, channel_stride = in.padded() * row_stride;
  const float* top_left = in.at(0, 2 * oy - 1, 2 * ox0 - 1);
  for (int64_t ci = 0; ci < in.channels; ++ci) {
    GENZOO_UNROLL
    for (int ky = 0; ky < kTaps; ++ky) {
      const float* row = top_left + ci * channel_stride + ky * row_stride;
      const float* w = weight + co0 * per_out + ci * taps + ky * kTaps;
      GENZOO_UNROLL
      for (int kx = 0; kx < kTaps; ++kx) {
        Block wv[Channels];
        GENZOO_UNROLL
        for (int c = 0; c < Channels; ++c) wv[c] = splat(w[c * per_out + kx]);
        GENZOO_UNROLL
        for (int t = 0; t < Width; ++t) {
          const Block v = load(row + (2 * t + kx) * kLanes);
          GENZOO_UNROLL
          for (int c = 0; c < Channels; ++c) acc[c][t] = mul_add(wv[c], v, acc[c][t]);
        }
      }
    }
  }
  store_tile(acc, out, co0, oy, ox0, 1, epilogue, mask);
}

// Channels output channels x Width output pixels x = parity + 2 (j0 + t) of one row of
// conv_transposed: pixels of one parity take the same taps, from consecutive input pixels.
template <int Channels, int Width>
HWY_NOINLINE void conv_transposed_tile(const Grid& in, const float* weight, const float* bias, const Grid& out,
                                       Epilogue epilogue, const Grid* mask, int64_t co0, int64_t y, int64_t parity,
                                       int64_t j0) {
  Block acc[Channels][Width];
  init_tile(acc, bias, co0);
  // The row's four taps: ky in {py, py + 2} from input rows (y + 1 - ky) / 2, kx in {1 - parity,
  // 3 - parity} from input columns j + (parity + 1 - kx) / 2; set up once, then stepped by channel.
  constexpr int kRowTaps = 4;
  const int64_t taps = kTaps * kTaps, per_in = out.channels * taps, py = (y + 1) % 2;
  const int64_t channel_stride = in.padded() * in.padded() * kLanes;
  const float* rows[kRowTaps];
  int64_t tap_offsets[kRowTaps];
  for (int tap = 0; tap < kRowTaps; ++tap) {
    const int64_t ky = py + 2 * (tap / 2), kx = 1 - parity + 2 * (tap % 2);
    rows[tap] = in.at(0, (y + 1 - ky) / 2, j0 + (parity + 1 - kx) / 2);
    tap_offsets[tap] = co0 * taps + ky * kTaps + kx;
  }
  for (int64_t ci = 0; ci < in.channels; ++ci) {
    const float* w = weight + ci * per_in;
    GENZOO_UNROLL
    for (int tap = 0; tap < kRowTaps; ++tap) {
      Block wv[Channels];
      GENZOO_UNROLL
      for (int c = 0; c < Channels; ++c) wv[c] = splat(w[tap_offsets[tap] + c * taps]);
      const float* row = rows[tap] + ci * channel_stride;
      GENZOO_UNROLL
      for (int t = 0; t < Width; ++t) {
        const Block v = load(row + t * kLanes);
        GENZOO_UNROLL
        for (int c = 0; c < Channels; ++c) acc[c][t] = mul_add(wv[c], v, acc[c][t]);
      }
    }
  }
  store_tile(acc, out, co0, y, parity + 2 * j0, 2, epilogue, mask);
}

// Channels small channels x Taps kx (from kx0) of one (large channel, ky) of weight_grad.
template <int Channels, int Taps>
HWY_NOINLINE void weight_grad_tile(const Grid& small, const Grid& large, float* grad, int64_t s0, int64_t l,
                                   int64_t ky, int64_t kx0) {
  Block acc[Channels][Taps];
  GENZOO_UNROLL
  for (int c = 0; c < Channels; ++c)
    GENZOO_UNROLL
    for (int k = 0; k < Taps; ++k) acc[c][k] = zero();
  for (int64_t oy = 0; oy < small.side; ++oy) {
    const float* large_row = large.at(l, 2 * oy - 1 + ky, -1) + kx0 * kLanes;
    for (int64_t ox = 0; ox < small.side; ++ox) {
      Block lv[Taps];
      GENZOO_UNROLL
      for (int k = 0; k < Taps; ++k) lv[k] = load(large_row + (2 * ox + k) * kLanes);
      GENZOO_UNROLL
      for (int c = 0; c < Channels; ++c) {
        const Block sv = load(small.at(s0 + c, oy, ox));
        GENZOO_UNROLL
        for (int k = 0; k < Taps; ++k) acc[c][k] = mul_add(sv, lv[k], acc[c][k]);
      }
    }
  }
  float* out = grad + (s0 * large.channels + l) * kTaps * kTaps + ky * kTaps + kx0;
  const int64_t per_small = large.channels * kTaps * kTaps;
  // The lane sums, four accumulators at a time (Channels x Taps is a multiple of 4 or 1 x 1).
  FloatVec folded[Channels * Taps];
  GENZOO_UNROLL
  for (int c = 0; c < Channels; ++c) {
    GENZOO_UNROLL
    for (int k = 0; k < Taps; ++k) folded[c * Taps + k] = fold_parts(acc[c][k]);
  }
  if constexpr (Channels * Taps % 4 == 0) {
    GENZOO_UNROLL
    for (int q = 0; q < Channels * Taps; q += 4) {
      float sums[4];
      sums_of_four(folded[q], folded[q + 1], folded[q + 2], folded[q + 3], sums, false);
      GENZOO_UNROLL
      for (int i = 0; i < 4; ++i) out[(q + i) / Taps * per_small + (q + i) % Taps] += sums[i];
    }
  } else {
    GENZOO_UNROLL
    for (int q = 0; q < Channels * Taps; ++q) out[q / Taps * per_small + q % Taps] += sum_of_lanes(folded[q]);
  }
}

// Width features of one grid row through dense_from_narrow: one accumulator each, so that
// Width independent FMA chains are in flight.
template <int Width>
HWY_INLINE void dense_from_narrow_tile(const float* narrow, const float* weight, const float* bias, const Grid& grid,
                                       Epilogue epilogue, const Grid* mask, int64_t width, int64_t c, int64_t y,
                                       int64_t x0) {
  const int64_t f0 = (c * grid.side + y) * grid.side + x0;
  Block acc[1][Width];
  GENZOO_UNROLL
  for (int t = 0; t < Width; ++t) acc[0][t] = bias ? splat(bias[f0 + t]) : zero();
  for (int64_t j = 0; j < width; ++j) {
    const Block in = load(narrow + j * kLanes);
    GENZOO_UNROLL
    for (int t = 0; t < Width; ++t) acc[0][t] = mul_add(splat(weight[(f0 + t) * width + j]), in, acc[0][t]);
  }
  store_tile(acc, grid, c, y, x0, 1, epilogue, mask);
}

HWY_INLINE Block sigmoid_block(const Block& v) {
  const FloatTag d;
  const FloatVec one = hn::Set(d, 1.0f);
  return map(v, [&](FloatVec x) { return reciprocal(hn::Add(one, exp_vec(hn::Neg(x)))); });
}

// Calls visit(c, y, x) for every interior pixel of grid.
template <class Visit>
HWY_INLINE void for_each_pixel(const Grid& grid, Visit visit) {
  for (int64_t c = 0; c < grid.channels; ++c) {
    for (int64_t y = 0; y < grid.side; ++y) {
      for (int64_t x = 0; x < grid.side; ++x) visit(c, y, x);
    }
  }
}

void conv_impl(const Grid& in, const float* weight, const float* bias, const Grid& out, Epilogue epilogue,
               const Grid* mask) {
  // Output channel blocks innermost: the input rows a tile reads stay in L1 for the next block.
  // Channels left over from the blocks get wider rows (enough accumulators in flight).
  const int64_t blocked = out.channels / kChannelBlock * kChannelBlock;
  for (int64_t oy = 0; oy < out.side; ++oy) {
    width_tiles<kTileWidth>(0, out.side, [&](auto width, int64_t ox0) {
      for (int64_t co0 = 0; co0 < blocked; co0 += kChannelBlock) {
        conv_tile<kChannelBlock, decltype(width)::value>(in, weight, bias, out, epilogue, mask, co0, oy, ox0);
      }
    });
    for (int64_t co = blocked; co < out.channels; ++co) {
      width_tiles<kSingleChannelWidth>(0, out.side, [&](auto width, int64_t ox0) {
        conv_tile<1, decltype(width)::value>(in, weight, bias, out, epilogue, mask, co, oy, ox0);
      });
    }
  }
}

void conv_transposed_impl(const Grid& in, const float* weight, const float* bias, const Grid& out, Epilogue epilogue,
                          const Grid* mask) {
  const int64_t blocked = out.channels / kChannelBlock * kChannelBlock;
  for (int64_t y = 0; y < out.side; ++y) {
    for (int64_t parity = 0; parity < 2; ++parity) {
      width_tiles<kTileWidth>(0, in.side, [&](auto width, int64_t j0) {
        for (int64_t co0 = 0; co0 < blocked; co0 += kChannelBlock) {
          conv_transposed_tile<kChannelBlock, decltype(width)::value>(in, weight, bias, out, epilogue, mask, co0, y,
                                                                      parity, j0);
        }
      });
      for (int64_t co = blocked; co < out.channels; ++co) {
        width_tiles<kSingleChannelWidth>(0, in.side, [&](auto width, int64_t j0) {
          conv_transposed_tile<1, decltype(width)::value>(in, weight, bias, out, epilogue, mask, co, y, parity, j0);
        });
      }
    }
  }
}

// weight_grad tiles: AVX-512's 32 registers hold 4 small channels x all 4 taps (16 accumulators, each
// loaded tap block serving 4 channels); with 16 registers, 2 channels x 2 taps keep loads at one per
// FMA (a 1 x 4 tile needed 1.25, more than two load ports feed two FMA ports: 21 % of a GAN step).
constexpr int kWeightGradChannels = kAccumulatorBlocks >= 16 ? 4 : (kAccumulatorBlocks >= 4 ? 2 : 1);
constexpr int kWeightGradTaps = kAccumulatorBlocks >= 16 ? 4 : (kAccumulatorBlocks >= 4 ? 2 : 1);

void weight_grad_impl(const Grid& small, const Grid& large, float* grad) {
  const auto tiles = [&](auto channels, int64_t s0) {
    constexpr int C = decltype(channels)::value;
    for (int64_t l = 0; l < large.channels; ++l) {
      for (int64_t ky = 0; ky < kTaps; ++ky) {
        for (int64_t kx0 = 0; kx0 < kTaps; kx0 += kWeightGradTaps) {
          weight_grad_tile<C, kWeightGradTaps>(small, large, grad, s0, l, ky, kx0);
        }
      }
    }
  };
  int64_t s0 = 0;
  for (; s0 + kWeightGradChannels <= small.channels; s0 += kWeightGradChannels) {
    tiles(std::integral_constant<int, kWeightGradChannels>{}, s0);
  }
  for (; s0 < small.channels; ++s0) tiles(std::integral_constant<int, 1>{}, s0);
}

void channel_sums_impl(const Grid& grid, float* sums) {
  for (int64_t c = 0; c < grid.channels; ++c) {
    Block even = zero(), odd = zero();  // two addition chains in flight
    for (int64_t y = 0; y < grid.side; ++y) {
      const float* row = grid.at(c, y, 0);
      int64_t x = 0;
      for (; x + 1 < grid.side; x += 2) {
        even += load(row + x * kLanes);
        odd += load(row + (x + 1) * kLanes);
      }
      if (x < grid.side) even += load(row + x * kLanes);
    }
    sums[c] += sum_lanes(even + odd);
  }
}

// sums[j] += lane sum of vectors[j] for j < count, four at a time.
void add_lane_sums_impl(const float* vectors, float* sums, int64_t count) {
  const auto folded = [&](int64_t j) { return fold_parts(load(vectors + j * kLanes)); };
  int64_t j = 0;
  for (; j + 4 <= count; j += 4) {
    sums_of_four(folded(j), folded(j + 1), folded(j + 2), folded(j + 3), sums + j, true);
  }
  for (; j < count; ++j) sums[j] += sum_lanes(load(vectors + j * kLanes));
}

void feature_sums_impl(const Grid& grid, float* sums) {
  // Four features at a time through sums_of_four (each a grid pixel's lane block).
  const auto folded = [&](const float* p) { return fold_parts(load(p)); };
  int64_t f = 0;
  for (int64_t c = 0; c < grid.channels; ++c) {
    for (int64_t y = 0; y < grid.side; ++y) {
      int64_t x = 0;
      for (; x + 4 <= grid.side; x += 4, f += 4) {
        const float* p = grid.at(c, y, x);
        sums_of_four(folded(p), folded(p + kLanes), folded(p + 2 * kLanes), folded(p + 3 * kLanes), sums + f, true);
      }
      for (; x < grid.side; ++x, ++f) sums[f] += sum_lanes(load(grid.at(c, y, x)));
    }
  }
}

// J outputs (code units j0 ... j0 + J - 1) of dense_to_narrow over all features.
template <int J>
HWY_INLINE void dense_to_narrow_chunk(const Grid& grid, const float* weight, const float* bias, float* narrow,
                                      int64_t width, int64_t j0) {
  Block acc[J];
  GENZOO_UNROLL
  for (int j = 0; j < J; ++j) acc[j] = bias ? splat(bias[j0 + j]) : zero();
  const float* w = weight + j0;
  for (int64_t c = 0; c < grid.channels; ++c) {
    for (int64_t y = 0; y < grid.side; ++y) {
      for (int64_t x = 0; x < grid.side; ++x, w += width) {
        const Block v = load(grid.at(c, y, x));
        GENZOO_UNROLL
        for (int j = 0; j < J; ++j) acc[j] = mul_add(splat(w[j]), v, acc[j]);
      }
    }
  }
  GENZOO_UNROLL
  for (int j = 0; j < J; ++j) store(narrow + (j0 + j) * kLanes, acc[j]);
}

void dense_to_narrow_impl(const Grid& grid, const float* weight, const float* bias, float* narrow, int64_t width) {
  // As many outputs per pass over the grid as there are accumulator blocks.
  width_tiles<kAccumulatorBlocks>(0, width, [&](auto outputs, int64_t j0) {
    dense_to_narrow_chunk<decltype(outputs)::value>(grid, weight, bias, narrow, width, j0);
  });
}

void dense_from_narrow_impl(const float* narrow, const float* weight, const float* bias, const Grid& grid,
                            Epilogue epilogue, int64_t width, const Grid* mask) {
  for (int64_t c = 0; c < grid.channels; ++c) {
    for (int64_t y = 0; y < grid.side; ++y) {
      width_tiles<kSingleChannelWidth>(0, grid.side, [&](auto tile, int64_t x0) {
        dense_from_narrow_tile<decltype(tile)::value>(narrow, weight, bias, grid, epilogue, mask, width, c, y, x0);
      });
    }
  }
}

void dense_weight_grad_impl(const Grid& grid, const float* narrow, float* grad, int64_t width) {
  // With narrow transposed (sample b's code values side by side), a feature's weight gradients are
  // vectors over j: sum over samples b of grid(f)[b] * transposed[b], no horizontal sums.
  const FloatTag d;
  constexpr int64_t N = kFloatLanes;
  float transposed[kLanes * 64];
  for (int64_t j0 = 0; j0 < width; j0 += 64) {
    const int64_t chunk = std::min<int64_t>(64, width - j0);
    for (int64_t j = 0; j < chunk; ++j) {
      for (int64_t b = 0; b < kLanes; ++b) transposed[b * chunk + j] = narrow[(j0 + j) * kLanes + b];
    }
    const int64_t vectors = chunk / N;
    int64_t f = 0;
    for (int64_t c = 0; c < grid.channels; ++c) {
      for (int64_t y = 0; y < grid.side; ++y) {
        for (int64_t x = 0; x < grid.side; ++x, ++f) {
          const float* g = grid.at(c, y, x);
          float* out = grad + f * width + j0;
          for (int64_t q = 0; q < vectors; ++q) {
            FloatVec acc = hn::LoadU(d, out + q * N);
            GENZOO_UNROLL
            for (int64_t b = 0; b < kLanes; ++b) acc = hn::MulAdd(hn::Set(d, g[b]), hn::LoadU(d, transposed + b * chunk + q * N), acc);
            hn::StoreU(acc, d, out + q * N);
          }
          for (int64_t j = vectors * N; j < chunk; ++j) {
            float sum = 0.0f;
            for (int64_t b = 0; b < kLanes; ++b) sum += g[b] * transposed[b * chunk + j];
            out[j] += sum;
          }
        }
      }
    }
  }
}

double sigmoid_squared_error_impl(const Grid& logits, const Grid& target, float scale, const Grid& grad,
                                  int64_t valid) {
  float keep[kLanes];
  for (int64_t b = 0; b < kLanes; ++b) keep[b] = b < valid ? 1.0f : 0.0f;
  const Block keep_v = load(keep), scale_v = splat(scale), one = splat(1.0f);
  Block squared = zero();
  for_each_pixel(logits, [&](int64_t c, int64_t y, int64_t x) {
    const Block out = sigmoid_block(load(logits.at(c, y, x)));
    const Block diff = (out - load(target.at(c, y, x))) * keep_v;
    squared = mul_add(diff, diff, squared);
    store(grad.at(c, y, x), scale_v * diff * out * (one - out));
  });
  float lanes[kLanes];
  store(lanes, squared);
  double sum = 0.0;
  for (float lane : lanes) sum += lane;
  return sum;
}

void sigmoid_impl(const Grid& logits, const Grid& out) {
  for_each_pixel(logits, [&](int64_t c, int64_t y, int64_t x) { store(out.at(c, y, x), sigmoid_block(load(logits.at(c, y, x)))); });
}

void sigmoid_backward_impl(const Grid& out, const Grid& d_out, const Grid& d_logits) {
  const Block one = splat(1.0f);
  for_each_pixel(out, [&](int64_t c, int64_t y, int64_t x) {
    const Block o = load(out.at(c, y, x));
    store(d_logits.at(c, y, x), load(d_out.at(c, y, x)) * o * (one - o));
  });
}

// Features f = (c * side + y) * side + x, in grid order.
void dense_to_one_impl(const Grid& grid, const float* weight, float bias, float* lanes) {
  Block even = splat(bias), odd = zero();  // two chains in flight
  const float* w = weight;
  int64_t f = 0;
  for_each_pixel(grid, [&](int64_t c, int64_t y, int64_t x) {
    Block& acc = (f++ & 1) ? odd : even;
    acc = mul_add(splat(*w++), load(grid.at(c, y, x)), acc);
  });
  store(lanes, even + odd);
}

void dense_from_one_impl(const float* lanes, const float* weight, const Grid& grid, Epilogue epilogue,
                         const Grid* mask) {
  const Block in = load(lanes);
  const float* w = weight;
  for_each_pixel(grid, [&](int64_t c, int64_t y, int64_t x) {
    store(grid.at(c, y, x), apply(epilogue, splat(*w++) * in, mask ? mask->at(c, y, x) : nullptr));
  });
}

void dense_one_weight_grad_impl(const Grid& grid, const float* lanes, float* grad) {
  const Block in = load(lanes);
  float* g = grad;
  for_each_pixel(grid, [&](int64_t c, int64_t y, int64_t x) { *g++ += sum_lanes(load(grid.at(c, y, x)) * in); });
}

// 1 in the first `valid` lanes, 0 in the others.
HWY_INLINE Block first_lanes(int64_t valid) {
  HWY_ALIGN float ones[kLanes];
  for (int64_t l = 0; l < kLanes; ++l) ones[l] = l < valid ? 1.0f : 0.0f;
  return load(ones);
}

// v in the lanes where keep (first_lanes) is 1, exactly 0 in the others whatever v holds there (a padded
// lane's inf or NaN included).
HWY_INLINE Block kept(const Block& v, const Block& keep) {
  const FloatVec zero_v = hn::Zero(FloatTag());
  return map(v, keep, [&](FloatVec x, FloatVec k) { return hn::IfThenElseZero(k > zero_v, x); });
}

void masked_feature_sums_impl(const Grid& grid, int64_t valid, float* sums) {
  const Block keep = first_lanes(valid);
  float* out = sums;
  for_each_pixel(grid, [&](int64_t c, int64_t y, int64_t x) { *out++ += sum_lanes(kept(load(grid.at(c, y, x)), keep)); });
}

void centered_square_sums_impl(const Grid& grid, int64_t valid, const float* mean, float* sums) {
  const Block keep = first_lanes(valid);
  int64_t f = 0;
  for_each_pixel(grid, [&](int64_t c, int64_t y, int64_t x) {
    const Block centered = kept(load(grid.at(c, y, x)) - splat(mean[f]), keep);
    sums[f++] += sum_lanes(centered * centered);
  });
}

void add_leaky_centered_impl(const Grid& features, const float* mean, const float* factor, float scale, const Grid& d,
                             int64_t valid) {
  const Block keep = first_lanes(valid);
  int64_t f = 0;
  for_each_pixel(features, [&](int64_t c, int64_t y, int64_t x) {
    const float* feature = features.at(c, y, x);
    const Block grad = splat(scale * factor[f]) * (load(feature) - splat(mean[f]));
    ++f;
    float* out = d.at(c, y, x);
    store(out, load(out) + kept(apply(Epilogue::kLeakyMaskBy, grad, feature), keep));
  });
}

void load_images_impl(const float* images, const Grid& grid) {
  const int64_t pixels = grid.side * grid.side;
  for (int64_t y = 0; y < grid.side; ++y) {
    for (int64_t x = 0; x < grid.side; ++x) {
      float* lanes = grid.at(0, y, x);
      for (int64_t b = 0; b < kLanes; ++b) lanes[b] = images[b * pixels + y * grid.side + x];
    }
  }
}

#undef GENZOO_UNROLL

}  // namespace
}  // namespace genzoo::conv_kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace genzoo::conv_kernels {

HWY_EXPORT(conv_impl);
HWY_EXPORT(conv_transposed_impl);
HWY_EXPORT(weight_grad_impl);
HWY_EXPORT(channel_sums_impl);
HWY_EXPORT(feature_sums_impl);
HWY_EXPORT(dense_to_narrow_impl);
HWY_EXPORT(dense_from_narrow_impl);
HWY_EXPORT(dense_weight_grad_impl);
HWY_EXPORT(sigmoid_squared_error_impl);
HWY_EXPORT(sigmoid_impl);
HWY_EXPORT(sigmoid_backward_impl);
HWY_EXPORT(dense_to_one_impl);
HWY_EXPORT(dense_from_one_impl);
HWY_EXPORT(dense_one_weight_grad_impl);
HWY_EXPORT(add_lane_sums_impl);
HWY_EXPORT(load_images_impl);
HWY_EXPORT(masked_feature_sums_impl);
HWY_EXPORT(centered_square_sums_impl);
HWY_EXPORT(add_leaky_centered_impl);

void masked_feature_sums(const Grid& grid, int64_t valid, float* sums) {
  HWY_DYNAMIC_DISPATCH(masked_feature_sums_impl)(grid, valid, sums);
}

void centered_square_sums(const Grid& grid, int64_t valid, const float* mean, float* sums) {
  HWY_DYNAMIC_DISPATCH(centered_square_sums_impl)(grid, valid, mean, sums);
}

void add_leaky_centered(const Grid& features, const float* mean, const float* factor, float scale, const Grid& d,
                        int64_t valid) {
  HWY_DYNAMIC_DISPATCH(add_leaky_centered_impl)(features, mean, factor, scale, d, valid);
}

void conv(const Grid& in, const float* weight, const float* bias, const Grid& out, Epilogue epilogue, const Grid* mask) {
  HWY_DYNAMIC_DISPATCH(conv_impl)(in, weight, bias, out, epilogue, mask);
}

void conv_transposed(const Grid& in, const float* weight, const float* bias, const Grid& out, Epilogue epilogue,
                     const Grid* mask) {
  HWY_DYNAMIC_DISPATCH(conv_transposed_impl)(in, weight, bias, out, epilogue, mask);
}

void weight_grad(const Grid& small, const Grid& large, float* grad) {
  HWY_DYNAMIC_DISPATCH(weight_grad_impl)(small, large, grad);
}

void channel_sums(const Grid& grid, float* sums) { HWY_DYNAMIC_DISPATCH(channel_sums_impl)(grid, sums); }

void feature_sums(const Grid& grid, float* sums) { HWY_DYNAMIC_DISPATCH(feature_sums_impl)(grid, sums); }

void dense_to_narrow(const Grid& grid, const float* weight, const float* bias, float* narrow, int64_t width) {
  HWY_DYNAMIC_DISPATCH(dense_to_narrow_impl)(grid, weight, bias, narrow, width);
}

void dense_from_narrow(const float* narrow, const float* weight, const float* bias, const Grid& grid,
                       Epilogue epilogue, int64_t width, const Grid* mask) {
  HWY_DYNAMIC_DISPATCH(dense_from_narrow_impl)(narrow, weight, bias, grid, epilogue, width, mask);
}

void dense_weight_grad(const Grid& grid, const float* narrow, float* grad, int64_t width) {
  HWY_DYNAMIC_DISPATCH(dense_weight_grad_impl)(grid, narrow, grad, width);
}

double sigmoid_squared_error(const Grid& logits, const Grid& target, float scale, const Grid& grad, int64_t valid) {
  return HWY_DYNAMIC_DISPATCH(sigmoid_squared_error_impl)(logits, target, scale, grad, valid);
}

void conv_backward(const Grid& input, const Grid& d_output, const float* weight, float* d_weight, float* d_bias,
                   const Grid* d_input, Epilogue input_epilogue) {
  if (d_weight) {
    weight_grad(d_output, input, d_weight);
    channel_sums(d_output, d_bias);
  }
  if (d_input) conv_transposed(d_output, weight, nullptr, *d_input, input_epilogue, &input);
}

void conv_transposed_backward(const Grid& input, const Grid& d_output, const float* weight, float* d_weight,
                              float* d_bias, const Grid* d_input, Epilogue input_epilogue) {
  if (d_weight) {
    weight_grad(input, d_output, d_weight);
    channel_sums(d_output, d_bias);
  }
  if (d_input) conv(d_output, weight, nullptr, *d_input, input_epilogue, &input);
}

void load_images(const float* images, const Grid& grid) { HWY_DYNAMIC_DISPATCH(load_images_impl)(images, grid); }

void sigmoid(const Grid& logits, const Grid& out) { HWY_DYNAMIC_DISPATCH(sigmoid_impl)(logits, out); }

void sigmoid_backward(const Grid& out, const Grid& d_out, const Grid& d_logits) {
  HWY_DYNAMIC_DISPATCH(sigmoid_backward_impl)(out, d_out, d_logits);
}

void dense_to_one(const Grid& grid, const float* weight, float bias, float* lanes) {
  HWY_DYNAMIC_DISPATCH(dense_to_one_impl)(grid, weight, bias, lanes);
}

void dense_from_one(const float* lanes, const float* weight, const Grid& grid, Epilogue epilogue, const Grid* mask) {
  HWY_DYNAMIC_DISPATCH(dense_from_one_impl)(lanes, weight, grid, epilogue, mask);
}

void dense_one_weight_grad(const Grid& grid, const float* lanes, float* grad) {
  HWY_DYNAMIC_DISPATCH(dense_one_weight_grad_impl)(grid, lanes, grad);
}

void add_lane_sums(const float* vectors, float* sums, int64_t count) {
  HWY_DYNAMIC_DISPATCH(add_lane_sums_impl)(vectors, sums, count);
}

}  // namespace genzoo::conv_kernels
#endif  // HWY_ONCE
