#include "train/conv_kernels.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

namespace genzoo::conv_kernels {

namespace {

// Unrolls the loops over a tile's registers: left as loops, GCC keeps the accumulators on the stack.
#define GENZOO_UNROLL _Pragma("GCC unroll 16")

// One lane vector in GCC's portable vector types: a single register with AVX-512, two or four
// narrower ones elsewhere, the same code either way.
typedef float Vec __attribute__((vector_size(kLanes * sizeof(float))));
typedef int32_t IntVec __attribute__((vector_size(kLanes * sizeof(int32_t))));

inline Vec load(const float* p) {
  Vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, Vec v) { std::memcpy(p, &v, sizeof v); }
// A broadcast. Spelled as s x ones: Vec{} + s would add a zero first (not an identity for -0, so
// GCC keeps the addition), and an element-wise loop is not always recognized as a broadcast.
inline Vec splat(float s) {
  constexpr Vec kOnes = Vec{} + 1.0f;
  return s * kOnes;
}

inline Vec apply(Epilogue epilogue, Vec v, const float* mask) {
  // Written so that NaN passes through, as in torch::relu: a diverged model must reach its loss.
  if (epilogue == Epilogue::kRelu) return v <= 0.0f ? Vec{} : v;
  if (epilogue == Epilogue::kMaskBy) return load(mask) > 0.0f ? v : Vec{};
  if (epilogue == Epilogue::kLeakyRelu) return v < 0.0f ? kLeakySlope * v : v;
  if (epilogue == Epilogue::kLeakyMaskBy) return load(mask) > 0.0f ? v : kLeakySlope * v;
  return v;
}

// Calls tile(std::integral_constant<int, W>, begin) over [begin, end) in tiles of Width, then the
// remainder as one narrower tile.
template <int Width, class Tile>
inline void row_tiles(int64_t begin, int64_t end, Tile&& tile) {
  for (; begin + Width <= end; begin += Width) tile(std::integral_constant<int, Width>{}, begin);
  if constexpr (Width > 1) {
    if (begin < end) row_tiles<Width - 1>(begin, end, tile);
  }
}

// Output-channel block of a tile: four channels share each loaded input vector.
template <class Tile>
inline void channel_blocks(int64_t channels, Tile&& tile) {
  int64_t c = 0;
  for (; c + 4 <= channels; c += 4) tile(std::integral_constant<int, 4>{}, c);
  for (; c < channels; ++c) tile(std::integral_constant<int, 1>{}, c);
}

template <int Channels, int Width>
inline void store_tile(Vec (&acc)[Channels][Width], const Grid& out, int64_t c0, int64_t y, int64_t x0,
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
inline void init_tile(Vec (&acc)[Channels][Width], const float* bias, int64_t c0) {
  GENZOO_UNROLL
  for (int c = 0; c < Channels; ++c) {
    const Vec b = bias ? splat(bias[c0 + c]) : Vec{};
    GENZOO_UNROLL
    for (int t = 0; t < Width; ++t) acc[c][t] = b;
  }
}

// Channels output channels x Width consecutive output pixels of one row of conv.
template <int Channels, int Width>
void conv_tile(const Grid& in, const float* weight, const float* bias, const Grid& out, Epilogue epilogue,
               const Grid* mask, int64_t co0, int64_t oy, int64_t ox0) {
  Vec acc[Channels][Width];
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
        Vec wv[Channels];
        GENZOO_UNROLL
        for (int c = 0; c < Channels; ++c) wv[c] = splat(w[c * per_out + kx]);
        GENZOO_UNROLL
        for (int t = 0; t < Width; ++t) {
          const Vec v = load(row + (2 * t + kx) * kLanes);
          GENZOO_UNROLL
          for (int c = 0; c < Channels; ++c) acc[c][t] += wv[c] * v;
        }
      }
    }
  }
  store_tile(acc, out, co0, oy, ox0, 1, epilogue, mask);
}

// Channels output channels x Width output pixels x = parity + 2 (j0 + t) of one row of
// conv_transposed: pixels of one parity take the same taps, from consecutive input pixels.
template <int Channels, int Width>
void conv_transposed_tile(const Grid& in, const float* weight, const float* bias, const Grid& out, Epilogue epilogue,
                          const Grid* mask, int64_t co0, int64_t y, int64_t parity, int64_t j0) {
  Vec acc[Channels][Width];
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
      Vec wv[Channels];
      GENZOO_UNROLL
      for (int c = 0; c < Channels; ++c) wv[c] = splat(w[tap_offsets[tap] + c * taps]);
      const float* row = rows[tap] + ci * channel_stride;
      GENZOO_UNROLL
      for (int t = 0; t < Width; ++t) {
        const Vec v = load(row + t * kLanes);
        GENZOO_UNROLL
        for (int c = 0; c < Channels; ++c) acc[c][t] += wv[c] * v;
      }
    }
  }
  store_tile(acc, out, co0, y, parity + 2 * j0, 2, epilogue, mask);
}

// Channels small channels x the four kx of one (large channel, ky) of weight_grad.
template <int Channels>
void weight_grad_tile(const Grid& small, const Grid& large, float* grad, int64_t s0, int64_t l, int64_t ky) {
  Vec acc[Channels][kTaps] = {};
  for (int64_t oy = 0; oy < small.side; ++oy) {
    const float* large_row = large.at(l, 2 * oy - 1 + ky, -1);
    for (int64_t ox = 0; ox < small.side; ++ox) {
      Vec lv[kTaps];
      GENZOO_UNROLL
      for (int kx = 0; kx < kTaps; ++kx) lv[kx] = load(large_row + (2 * ox + kx) * kLanes);
      GENZOO_UNROLL
      for (int c = 0; c < Channels; ++c) {
        const Vec sv = load(small.at(s0 + c, oy, ox));
        GENZOO_UNROLL
        for (int kx = 0; kx < kTaps; ++kx) acc[c][kx] += sv * lv[kx];
      }
    }
  }
  float* out = grad + (s0 * large.channels + l) * kTaps * kTaps + ky * kTaps;
  const int64_t per_small = large.channels * kTaps * kTaps;
  if constexpr (Channels == 4) {
    float sums[kLanes] = {};
    add_lane_sums(reinterpret_cast<const float*>(acc), sums);
    for (int c = 0; c < Channels; ++c) {
      for (int kx = 0; kx < kTaps; ++kx) out[c * per_small + kx] += sums[c * kTaps + kx];
    }
  } else {
    for (int c = 0; c < Channels; ++c) {
      for (int kx = 0; kx < kTaps; ++kx) {
        float lanes[kLanes];
        store(lanes, acc[c][kx]);
        float sum = 0.0f;
        for (float lane : lanes) sum += lane;
        out[c * per_small + kx] += sum;
      }
    }
  }
}

// Width features of one grid row through dense_from_narrow: one accumulator each, so that
// Width independent FMA chains are in flight.
template <int Width>
void dense_from_narrow_tile(const Vec (&narrow)[kLanes], const float* weight, const float* bias, const Grid& grid,
                            Epilogue epilogue, const Grid* mask, int64_t c, int64_t y, int64_t x0) {
  const int64_t f0 = (c * grid.side + y) * grid.side + x0;
  Vec acc[1][Width];
  GENZOO_UNROLL
  for (int t = 0; t < Width; ++t) acc[0][t] = bias ? splat(bias[f0 + t]) : Vec{};
  GENZOO_UNROLL
  for (int j = 0; j < kLanes; ++j) {
    GENZOO_UNROLL
    for (int t = 0; t < Width; ++t) acc[0][t] += splat(weight[(f0 + t) * kLanes + j]) * narrow[j];
  }
  store_tile(acc, grid, c, y, x0, 1, epilogue, mask);
}

template <int Width>
void dense_weight_grad_tile(const Vec (&transposed)[kLanes], const Grid& grid, float* grad, int64_t c, int64_t y,
                            int64_t x0) {
  const int64_t f0 = (c * grid.side + y) * grid.side + x0;
  Vec acc[Width];
  GENZOO_UNROLL
  for (int t = 0; t < Width; ++t) acc[t] = load(grad + (f0 + t) * kLanes);
  GENZOO_UNROLL
  for (int b = 0; b < kLanes; ++b) {
    GENZOO_UNROLL
    for (int t = 0; t < Width; ++t) acc[t] += splat(grid.at(c, y, x0 + t)[b]) * transposed[b];
  }
  GENZOO_UNROLL
  for (int t = 0; t < Width; ++t) store(grad + (f0 + t) * kLanes, acc[t]);
}

// e^v for v in [-87, 88] (Cephes' expf polynomial, relative error ~1e-7); clamped outside.
inline Vec exp_vec(Vec v) {
  v = v < -87.0f ? splat(-87.0f) : v;
  v = v > 88.0f ? splat(88.0f) : v;
  const Vec round_shift = splat(12582912.0f);  // 1.5 * 2^23: adding and subtracting rounds to integer
  const Vec n = (v * 1.44269504088896341f + round_shift) - round_shift;
  const Vec r = v - n * 0.693359375f + n * 2.12194440e-4f;
  Vec p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const IntVec exponent = (__builtin_convertvector(n, IntVec) + 127) << 23;
  Vec scale;
  std::memcpy(&scale, &exponent, sizeof scale);
  return p * scale;
}

// Calls visit(c, y, x) for every interior pixel of grid.
template <class Visit>
void for_each_pixel(const Grid& grid, Visit visit) {
  for (int64_t c = 0; c < grid.channels; ++c) {
    for (int64_t y = 0; y < grid.side; ++y) {
      for (int64_t x = 0; x < grid.side; ++x) visit(c, y, x);
    }
  }
}

inline Vec sigmoid_vec(Vec v) { return 1.0f / (1.0f + exp_vec(-v)); }

}  // namespace

void conv(const Grid& in, const float* weight, const float* bias, const Grid& out, Epilogue epilogue, const Grid* mask) {
  // Output channel blocks innermost: the input rows a tile reads stay in L1 for the next block.
  // Channels left over from the blocks of four get wider rows (enough accumulators in flight).
  const int64_t blocked = out.channels / 4 * 4;
  for (int64_t oy = 0; oy < out.side; ++oy) {
    row_tiles<4>(0, out.side, [&](auto width, int64_t ox0) {
      for (int64_t co0 = 0; co0 < blocked; co0 += 4) {
        conv_tile<4, decltype(width)::value>(in, weight, bias, out, epilogue, mask, co0, oy, ox0);
      }
    });
    for (int64_t co = blocked; co < out.channels; ++co) {
      row_tiles<8>(0, out.side, [&](auto width, int64_t ox0) {
        conv_tile<1, decltype(width)::value>(in, weight, bias, out, epilogue, mask, co, oy, ox0);
      });
    }
  }
}

void conv_transposed(const Grid& in, const float* weight, const float* bias, const Grid& out, Epilogue epilogue,
                     const Grid* mask) {
  const int64_t blocked = out.channels / 4 * 4;
  for (int64_t y = 0; y < out.side; ++y) {
    for (int64_t parity = 0; parity < 2; ++parity) {
      row_tiles<4>(0, in.side, [&](auto width, int64_t j0) {
        for (int64_t co0 = 0; co0 < blocked; co0 += 4) {
          conv_transposed_tile<4, decltype(width)::value>(in, weight, bias, out, epilogue, mask, co0, y, parity, j0);
        }
      });
      for (int64_t co = blocked; co < out.channels; ++co) {
        row_tiles<8>(0, in.side, [&](auto width, int64_t j0) {
          conv_transposed_tile<1, decltype(width)::value>(in, weight, bias, out, epilogue, mask, co, y, parity, j0);
        });
      }
    }
  }
}

void weight_grad(const Grid& small, const Grid& large, float* grad) {
  channel_blocks(small.channels, [&](auto channels, int64_t s0) {
    for (int64_t l = 0; l < large.channels; ++l) {
      for (int64_t ky = 0; ky < kTaps; ++ky) weight_grad_tile<decltype(channels)::value>(small, large, grad, s0, l, ky);
    }
  });
}

void channel_sums(const Grid& grid, float* sums) {
  for (int64_t c = 0; c < grid.channels; ++c) {
    Vec even = {}, odd = {};  // two addition chains in flight
    for (int64_t y = 0; y < grid.side; ++y) {
      const float* row = grid.at(c, y, 0);
      int64_t x = 0;
      for (; x + 1 < grid.side; x += 2) {
        even += load(row + x * kLanes);
        odd += load(row + (x + 1) * kLanes);
      }
      if (x < grid.side) even += load(row + x * kLanes);
    }
    float lanes[kLanes];
    store(lanes, even + odd);
    float sum = 0.0f;
    for (float lane : lanes) sum += lane;
    sums[c] += sum;
  }
}

void feature_sums(const Grid& grid, float* sums) {
  // Sixteen features at a time through add_lane_sums; the last group padded with zero vectors.
  float vectors[kLanes * kLanes];
  int64_t f = 0, first = 0, filled = 0;
  const auto flush = [&] {
    std::fill(vectors + filled * kLanes, vectors + kLanes * kLanes, 0.0f);
    float group[kLanes] = {};
    add_lane_sums(vectors, group);
    for (int64_t i = 0; i < filled; ++i) sums[first + i] += group[i];
    filled = 0;
  };
  for (int64_t c = 0; c < grid.channels; ++c) {
    for (int64_t y = 0; y < grid.side; ++y) {
      for (int64_t x = 0; x < grid.side; ++x, ++f) {
        if (filled == 0) first = f;
        std::memcpy(vectors + filled * kLanes, grid.at(c, y, x), sizeof(float) * kLanes);
        if (++filled == kLanes) flush();
      }
    }
  }
  if (filled > 0) flush();
}

void dense_to_narrow(const Grid& grid, const float* weight, const float* bias, float* narrow) {
  Vec acc[kLanes];
  GENZOO_UNROLL
  for (int j = 0; j < kLanes; ++j) acc[j] = bias ? splat(bias[j]) : Vec{};
  const float* w = weight;
  for (int64_t c = 0; c < grid.channels; ++c) {
    for (int64_t y = 0; y < grid.side; ++y) {
      for (int64_t x = 0; x < grid.side; ++x, w += kLanes) {
        const Vec v = load(grid.at(c, y, x));
        GENZOO_UNROLL
        for (int j = 0; j < kLanes; ++j) acc[j] += splat(w[j]) * v;
      }
    }
  }
  GENZOO_UNROLL
  for (int j = 0; j < kLanes; ++j) store(narrow + j * kLanes, acc[j]);
}

void dense_from_narrow(const float* narrow, const float* weight, const float* bias, const Grid& grid,
                       Epilogue epilogue, const Grid* mask) {
  Vec inputs[kLanes];
  GENZOO_UNROLL
  for (int j = 0; j < kLanes; ++j) inputs[j] = load(narrow + j * kLanes);
  for (int64_t c = 0; c < grid.channels; ++c) {
    for (int64_t y = 0; y < grid.side; ++y) {
      row_tiles<8>(0, grid.side, [&](auto width, int64_t x0) {
        dense_from_narrow_tile<decltype(width)::value>(inputs, weight, bias, grid, epilogue, mask, c, y, x0);
      });
    }
  }
}

void dense_weight_grad(const Grid& grid, const float* narrow, float* grad) {
  // With narrow transposed (lane b's 16 values in one vector), each feature's 16 weight gradients
  // are one vector: sum over lanes b of grid(f)[b] * transposed[b], no horizontal sums.
  float transposed_floats[kLanes * kLanes];
  for (int64_t j = 0; j < kLanes; ++j) {
    for (int64_t b = 0; b < kLanes; ++b) transposed_floats[b * kLanes + j] = narrow[j * kLanes + b];
  }
  Vec transposed[kLanes];
  for (int b = 0; b < kLanes; ++b) transposed[b] = load(transposed_floats + b * kLanes);
  for (int64_t c = 0; c < grid.channels; ++c) {
    for (int64_t y = 0; y < grid.side; ++y) {
      row_tiles<8>(0, grid.side, [&](auto width, int64_t x0) {
        dense_weight_grad_tile<decltype(width)::value>(transposed, grid, grad, c, y, x0);
      });
    }
  }
}

double sigmoid_squared_error(const Grid& logits, const Grid& target, float scale, const Grid& grad) {
  Vec squared = {};
  for_each_pixel(logits, [&](int64_t c, int64_t y, int64_t x) {
    const Vec out = sigmoid_vec(load(logits.at(c, y, x)));
    const Vec diff = out - load(target.at(c, y, x));
    squared += diff * diff;
    store(grad.at(c, y, x), scale * diff * out * (1.0f - out));
  });
  float lanes[kLanes];
  store(lanes, squared);
  double sum = 0.0;
  for (float lane : lanes) sum += lane;
  return sum;
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

void load_images(const float* images, const Grid& grid) {
  const int64_t pixels = grid.side * grid.side;
  for (int64_t y = 0; y < grid.side; ++y) {
    for (int64_t x = 0; x < grid.side; ++x) {
      float* lanes = grid.at(0, y, x);
      for (int64_t b = 0; b < kLanes; ++b) lanes[b] = images[b * pixels + y * grid.side + x];
    }
  }
}

void sigmoid(const Grid& logits, const Grid& out) {
  for_each_pixel(logits, [&](int64_t c, int64_t y, int64_t x) { store(out.at(c, y, x), sigmoid_vec(load(logits.at(c, y, x)))); });
}

void sigmoid_backward(const Grid& out, const Grid& d_out, const Grid& d_logits) {
  for_each_pixel(out, [&](int64_t c, int64_t y, int64_t x) {
    const Vec o = load(out.at(c, y, x));
    store(d_logits.at(c, y, x), load(d_out.at(c, y, x)) * o * (1.0f - o));
  });
}

// Features f = (c * side + y) * side + x, in grid order.
void dense_to_one(const Grid& grid, const float* weight, float bias, float* lanes) {
  Vec acc = splat(bias);
  const float* w = weight;
  for_each_pixel(grid, [&](int64_t c, int64_t y, int64_t x) { acc += splat(*w++) * load(grid.at(c, y, x)); });
  store(lanes, acc);
}

void dense_from_one(const float* lanes, const float* weight, const Grid& grid, Epilogue epilogue, const Grid* mask) {
  const Vec in = load(lanes);
  const float* w = weight;
  for_each_pixel(grid, [&](int64_t c, int64_t y, int64_t x) {
    store(grid.at(c, y, x), apply(epilogue, splat(*w++) * in, mask ? mask->at(c, y, x) : nullptr));
  });
}

void dense_one_weight_grad(const Grid& grid, const float* lanes, float* grad) {
  const Vec in = load(lanes);
  float* g = grad;
  for_each_pixel(grid, [&](int64_t c, int64_t y, int64_t x) {
    float products[kLanes];
    store(products, load(grid.at(c, y, x)) * in);
    float sum = 0.0f;
    for (float p : products) sum += p;
    *g++ += sum;
  });
}

namespace {

// The two lane selections of one folding step at width w (see add_lane_sums), built once.
struct FoldMasks {
  IntVec low[4], high[4];  // widths 8, 4, 2, 1
  FoldMasks() {
    for (int step = 0, w = kLanes / 2; w >= 1; ++step, w /= 2) {
      for (int i = 0; i < kLanes; ++i) {
        const int group = i / (2 * w) * (2 * w), within = i % (2 * w);
        low[step][i] = within < w ? group + within : kLanes + group + within - w;
        high[step][i] = within < w ? group + w + within : kLanes + group + within;
      }
    }
  }
};

}  // namespace

void add_lane_sums(const float* vectors, float* sums) {
  // Pairwise folding: at width w every vector holds 16 / w groups of w partial sums; folding two
  // vectors halves the width and packs both. After four folds lane L holds the sum of vector
  // bitreverse(L).
  static const FoldMasks masks;
  Vec v[kLanes];
  GENZOO_UNROLL
  for (int j = 0; j < kLanes; ++j) v[j] = load(vectors + j * kLanes);
  GENZOO_UNROLL
  for (int step = 0, count = kLanes / 2; step < 4; ++step, count /= 2) {
    GENZOO_UNROLL
    for (int j = 0; j < count; ++j) {
      v[j] = __builtin_shuffle(v[2 * j], v[2 * j + 1], masks.low[step]) +
             __builtin_shuffle(v[2 * j], v[2 * j + 1], masks.high[step]);
    }
  }
  float folded[kLanes];
  store(folded, v[0]);
  for (int lane = 0; lane < kLanes; ++lane) {
    const int reversed = ((lane & 1) << 3) | ((lane & 2) << 1) | ((lane & 4) >> 1) | ((lane & 8) >> 3);
    sums[reversed] += folded[lane];
  }
}

}  // namespace genzoo::conv_kernels
#undef GENZOO_UNROLL
