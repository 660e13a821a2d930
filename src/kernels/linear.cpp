#include "kernels/linear.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/linear.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/simd-inl.h"

HWY_BEFORE_NAMESPACE();
namespace genzoo::kernels::HWY_NAMESPACE {
namespace {

constexpr int64_t N = kFloatLanes;
constexpr bool kWide = kVectorRegisters >= 32;

// R rows x C column blocks of rows_times_narrow (R * C accumulators, C loads and R broadcasts per depth step).
template <int R, int C>
HWY_INLINE void narrow_tile(const float* a, int64_t depth, const float* w, int64_t width, const float* bias, float* out) {
  const FloatTag d;
  FloatVec acc[R][C];
  GENZOO_UNROLL_TILE
  for (int c = 0; c < C; ++c) {
    const FloatVec b = bias ? hn::LoadU(d, bias + c * N) : hn::Zero(d);
    GENZOO_UNROLL_TILE
    for (int r = 0; r < R; ++r) acc[r][c] = b;
  }
  for (int64_t k = 0; k < depth; ++k) {
    FloatVec wv[C];
    GENZOO_UNROLL_TILE
    for (int c = 0; c < C; ++c) wv[c] = hn::LoadU(d, w + k * width + c * N);
    GENZOO_UNROLL_TILE
    for (int r = 0; r < R; ++r) {
      const FloatVec av = hn::Set(d, a[r * depth + k]);
      GENZOO_UNROLL_TILE
      for (int c = 0; c < C; ++c) acc[r][c] = hn::MulAdd(av, wv[c], acc[r][c]);
    }
  }
  GENZOO_UNROLL_TILE
  for (int r = 0; r < R; ++r)
    GENZOO_UNROLL_TILE
    for (int c = 0; c < C; ++c) hn::StoreU(acc[r][c], d, out + r * width + c * N);
}

// Column blocks of C vectors, then single vectors; `columns(C, col)` runs one block over all rows.
template <int C, class Columns>
HWY_INLINE void column_blocks(int64_t width, Columns&& columns) {
  int64_t col = 0;
  for (; col + C * N <= width; col += C * N) columns(std::integral_constant<int, C>{}, col);
  for (; col < width; col += N) columns(std::integral_constant<int, 1>{}, col);
}

void rows_times_narrow_impl(const float* a, int64_t rows, int64_t depth, const float* w, int64_t width,
                            const float* bias, float* out) {
  // 16 (32 registers) or 12 (16 registers) accumulators keep enough FMA chains in flight: two FMA
  // ports x 4 cycles latency need 8, and with exactly 8 the loop ran measurably below peak. Widths of
  // four vectors and more (the vae's 128 hidden units, its 784 outputs) take 6 x 4 tiles on 32
  // registers: 4 loads and 6 broadcasts per 24 FMAs instead of 1 and 16 per 16.
  // Narrower widths (linear_ae's 16-wide code) are single-vector blocks of 16 rows.
  constexpr int kColumns = kWide ? 4 : 2, kRows = 6;
  column_blocks<kColumns>(width, [&](auto columns, int64_t col) {
    constexpr int C = decltype(columns)::value;
    constexpr int R = C == 1 ? (kWide ? 16 : 12) : kRows;
    const float* bias_block = bias ? bias + col : nullptr;
    width_tiles<R>(0, rows, [&](auto tile_rows, int64_t r) {
      narrow_tile<decltype(tile_rows)::value, C>(a + r * depth, depth, w + col, width, bias_block, out + r * width + col);
    });
  });
}

// R depth-rows x C column blocks of transposed_times_narrow.
template <int R, int C>
HWY_INLINE void transposed_tile(const float* a, int64_t rows, int64_t depth, const float* b, int64_t width, float* out) {
  const FloatTag d;
  FloatVec acc[R][C];
  GENZOO_UNROLL_TILE
  for (int r = 0; r < R; ++r)
    GENZOO_UNROLL_TILE
    for (int c = 0; c < C; ++c) acc[r][c] = hn::Zero(d);
  for (int64_t i = 0; i < rows; ++i) {
    FloatVec bv[C];
    GENZOO_UNROLL_TILE
    for (int c = 0; c < C; ++c) bv[c] = hn::LoadU(d, b + i * width + c * N);
    const float* ai = a + i * depth;
    GENZOO_UNROLL_TILE
    for (int r = 0; r < R; ++r) {
      const FloatVec av = hn::Set(d, ai[r]);
      GENZOO_UNROLL_TILE
      for (int c = 0; c < C; ++c) acc[r][c] = hn::MulAdd(av, bv[c], acc[r][c]);
    }
  }
  GENZOO_UNROLL_TILE
  for (int r = 0; r < R; ++r)
    GENZOO_UNROLL_TILE
    for (int c = 0; c < C; ++c) hn::StoreU(acc[r][c], d, out + r * width + c * N);
}

void transposed_times_narrow_impl(const float* a, int64_t rows, int64_t depth, const float* b, int64_t width,
                                  float* out) {
  // As rows_times_narrow: 6 x 4 tiles on 32 registers once the width has four vectors.
  constexpr int kColumns = kWide ? 4 : 2;
  column_blocks<kColumns>(width, [&](auto columns, int64_t col) {
    constexpr int C = decltype(columns)::value;
    constexpr int R = kWide ? (C == 1 ? 8 : 6) : (C == 1 ? 12 : 6);
    width_tiles<R>(0, depth, [&](auto tile_rows, int64_t k) {
      transposed_tile<decltype(tile_rows)::value, C>(a + k, rows, depth, b + col, width, out + k * width + col);
    });
  });
}

// R rows x C column blocks of decode_residual; returns the squared error accumulated into sq.
template <int R, int C>
HWY_INLINE FloatVec residual_tile(const float* code, int64_t width, const float* wt, const float* bias, int64_t depth,
                                  const float* target, FloatVec scale, float* grad, float* grad_sums, FloatVec sq) {
  const FloatTag d;
  FloatVec acc[R][C];
  GENZOO_UNROLL_TILE
  for (int c = 0; c < C; ++c) {
    const FloatVec bv = hn::LoadU(d, bias + c * N);
    GENZOO_UNROLL_TILE
    for (int r = 0; r < R; ++r) acc[r][c] = bv;
  }
  for (int64_t j = 0; j < width; ++j) {
    FloatVec wv[C];
    GENZOO_UNROLL_TILE
    for (int c = 0; c < C; ++c) wv[c] = hn::LoadU(d, wt + j * depth + c * N);
    GENZOO_UNROLL_TILE
    for (int r = 0; r < R; ++r) {
      const FloatVec z = hn::Set(d, code[r * width + j]);
      GENZOO_UNROLL_TILE
      for (int c = 0; c < C; ++c) acc[r][c] = hn::MulAdd(z, wv[c], acc[r][c]);
    }
  }
  GENZOO_UNROLL_TILE
  for (int c = 0; c < C; ++c) {
    FloatVec column_sum = hn::LoadU(d, grad_sums + c * N);
    GENZOO_UNROLL_TILE
    for (int r = 0; r < R; ++r) {
      const FloatVec diff = hn::Sub(acc[r][c], hn::LoadU(d, target + r * depth + c * N));
      sq = hn::MulAdd(diff, diff, sq);
      const FloatVec g = hn::Mul(scale, diff);
      hn::StoreU(g, d, grad + r * depth + c * N);
      column_sum = hn::Add(column_sum, g);
    }
    hn::StoreU(column_sum, d, grad_sums + c * N);
  }
  return sq;
}

double decode_residual_impl(const float* code, int64_t rows, int64_t width, const float* wt, const float* bias,
                            int64_t depth, const float* target, float scale, float* grad, float* grad_sums) {
  const FloatTag d;
  const FloatVec scale_v = hn::Set(d, scale);
  FloatVec sq = hn::Zero(d);
  // All rows of one block of C vectors of columns: the block's slice of wt (width x C vectors) stays
  // in L1 while the rows pass, instead of all of wt streaming from L2 for every few rows.
  constexpr int kColumns = kWide ? 4 : 2, kRows = kWide ? 4 : 6;
  column_blocks<kColumns>(depth, [&](auto columns, int64_t col) {
    constexpr int C = decltype(columns)::value;
    width_tiles<kRows>(0, rows, [&](auto tile_rows, int64_t r) {
      sq = residual_tile<decltype(tile_rows)::value, C>(code + r * width, width, wt + col, bias + col, depth,
                                                         target + r * depth + col, scale_v, grad + r * depth + col,
                                                         grad_sums + col, sq);
    });
  });
  return sum_of_lanes(sq);
}

// R rows x 4 outputs of rows_times_rows over `length` of the depth (rows `depth` apart), added to
// out unless first: 4R vector accumulators, reduced four at a time at the end.
template <int R>
HWY_INLINE void dot_tile(const float* a, int64_t depth, int64_t length, const float* w, float* out, int64_t width,
                         bool first) {
  const FloatTag d;
  FloatVec acc[R][4];
  GENZOO_UNROLL_TILE
  for (int r = 0; r < R; ++r)
    GENZOO_UNROLL_TILE
    for (int q = 0; q < 4; ++q) acc[r][q] = hn::Zero(d);
  // The R row vectors in registers, each w vector loaded once for them: R + 1 + 4R registers (16 on
  // AVX2 with R = 3).
  for (int64_t k = 0; k < length; k += N) {
    FloatVec av[R];
    GENZOO_UNROLL_TILE
    for (int r = 0; r < R; ++r) av[r] = hn::LoadU(d, a + r * depth + k);
    GENZOO_UNROLL_TILE
    for (int q = 0; q < 4; ++q) {
      const FloatVec wv = hn::LoadU(d, w + q * depth + k);
      GENZOO_UNROLL_TILE
      for (int r = 0; r < R; ++r) acc[r][q] = hn::MulAdd(av[r], wv, acc[r][q]);
    }
  }
  GENZOO_UNROLL_TILE
  for (int r = 0; r < R; ++r) sums_of_four(acc[r][0], acc[r][1], acc[r][2], acc[r][3], out + r * width, !first);
}

void rows_times_rows_impl(const float* a, int64_t rows, int64_t depth, const float* w, int64_t width, float* out) {
  // The depth in two halves and the outputs in blocks of 16: a block's half of w (25 KB) stays in L1
  // while all rows pass, where whole rows of w streamed from L2 for every few rows (wide outputs,
  // like the vae's 128, ran at half the speed of narrow ones before the blocks).
  constexpr int kRows = kWide ? 6 : 3;
  constexpr int64_t kOutputBlock = 16;
  const int64_t half = (depth / N + 1) / 2 * N;
  for (int64_t begin = 0; begin < depth; begin += half) {
    const int64_t length = std::min(half, depth - begin);
    const float *a_part = a + begin, *w_part = w + begin;
    for (int64_t block = 0; block < width; block += kOutputBlock) {
      const int64_t block_end = std::min(width, block + kOutputBlock);
      width_tiles<kRows>(0, rows, [&](auto tile_rows, int64_t r) {
        for (int64_t j = block; j < block_end; j += 4) {
          dot_tile<decltype(tile_rows)::value>(a_part + r * depth, depth, length, w_part + j * depth,
                                               out + r * width + j, width, begin == 0);
        }
      });
    }
  }
}

// R code columns x C column blocks of narrow_transposed_times_rows, reducing over all rows.
template <int R, int C>
HWY_INLINE void code_transposed_tile(const float* code, int64_t rows, int64_t width, const float* a, int64_t depth,
                                     float* out) {
  const FloatTag d;
  FloatVec acc[R][C];
  GENZOO_UNROLL_TILE
  for (int r = 0; r < R; ++r)
    GENZOO_UNROLL_TILE
    for (int c = 0; c < C; ++c) acc[r][c] = hn::Zero(d);
  for (int64_t i = 0; i < rows; ++i) {
    FloatVec av[C];
    GENZOO_UNROLL_TILE
    for (int c = 0; c < C; ++c) av[c] = hn::LoadU(d, a + i * depth + c * N);
    GENZOO_UNROLL_TILE
    for (int r = 0; r < R; ++r) {
      const FloatVec z = hn::Set(d, code[i * width + r]);
      GENZOO_UNROLL_TILE
      for (int c = 0; c < C; ++c) acc[r][c] = hn::MulAdd(z, av[c], acc[r][c]);
    }
  }
  GENZOO_UNROLL_TILE
  for (int r = 0; r < R; ++r)
    GENZOO_UNROLL_TILE
    for (int c = 0; c < C; ++c) hn::StoreU(acc[r][c], d, out + r * depth + c * N);
}

void narrow_transposed_times_rows_impl(const float* code, int64_t rows, int64_t width, const float* a, int64_t depth,
                                       float* out) {
  // Column blocks outer: the block's slice of a (rows x C vectors) stays in L1 for all code columns.
  constexpr int kColumns = kWide ? 4 : 2, kCodes = kWide ? 4 : 4;
  column_blocks<kColumns>(depth, [&](auto columns, int64_t col) {
    constexpr int C = decltype(columns)::value;
    width_tiles<kCodes>(0, width, [&](auto codes, int64_t j) {
      code_transposed_tile<decltype(codes)::value, C>(code + j, rows, width, a + col, depth, out + j * depth + col);
    });
  });
}

}  // namespace
}  // namespace genzoo::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "kernels/isa.h"

namespace genzoo::kernels {

HWY_EXPORT(rows_times_narrow_impl);
HWY_EXPORT(transposed_times_narrow_impl);
HWY_EXPORT(decode_residual_impl);
HWY_EXPORT(rows_times_rows_impl);
HWY_EXPORT(narrow_transposed_times_rows_impl);

namespace {

// Whether n is a whole number of the dispatched target's vectors.
bool whole_vectors(int64_t n) { return n % float_lanes() == 0; }

}  // namespace

void rows_times_narrow(const float* a, int64_t rows, int64_t depth, const float* w, int64_t width,
                       const float* bias, float* out) {
  if (whole_vectors(width)) return HWY_DYNAMIC_DISPATCH(rows_times_narrow_impl)(a, rows, depth, w, width, bias, out);
  for (int64_t r = 0; r < rows; ++r) {
    float* o = out + r * width;
    for (int64_t j = 0; j < width; ++j) o[j] = bias ? bias[j] : 0.0f;
    for (int64_t k = 0; k < depth; ++k) {
      const float ak = a[r * depth + k];
      for (int64_t j = 0; j < width; ++j) o[j] += ak * w[k * width + j];
    }
  }
}

void transposed_times_narrow(const float* a, int64_t rows, int64_t depth, const float* b, int64_t width, float* out) {
  if (whole_vectors(width)) return HWY_DYNAMIC_DISPATCH(transposed_times_narrow_impl)(a, rows, depth, b, width, out);
  std::memset(out, 0, sizeof(float) * depth * width);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t k = 0; k < depth; ++k) {
      const float ak = a[i * depth + k];
      for (int64_t j = 0; j < width; ++j) out[k * width + j] += ak * b[i * width + j];
    }
  }
}

double decode_residual(const float* code, int64_t rows, int64_t width, const float* wt, const float* bias,
                       int64_t depth, const float* target, float scale, float* grad, float* grad_sums) {
  std::memset(grad_sums, 0, sizeof(float) * depth);
  if (whole_vectors(depth)) {
    return HWY_DYNAMIC_DISPATCH(decode_residual_impl)(code, rows, width, wt, bias, depth, target, scale, grad, grad_sums);
  }
  double sq = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < depth; ++k) {
      float y = bias[k];
      for (int64_t j = 0; j < width; ++j) y += code[r * width + j] * wt[j * depth + k];
      const float diff = y - target[r * depth + k];
      sq += static_cast<double>(diff) * diff;
      grad[r * depth + k] = scale * diff;
      grad_sums[k] += scale * diff;
    }
  }
  return sq;
}

void rows_times_rows(const float* a, int64_t rows, int64_t depth, const float* w, int64_t width, float* out) {
  if (whole_vectors(depth) && width % 4 == 0) return HWY_DYNAMIC_DISPATCH(rows_times_rows_impl)(a, rows, depth, w, width, out);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < width; ++j) {
      float sum = 0.0f;
      for (int64_t k = 0; k < depth; ++k) sum += a[r * depth + k] * w[j * depth + k];
      out[r * width + j] = sum;
    }
  }
}

void narrow_transposed_times_rows(const float* code, int64_t rows, int64_t width, const float* a, int64_t depth,
                                  float* out) {
  if (whole_vectors(depth)) {
    return HWY_DYNAMIC_DISPATCH(narrow_transposed_times_rows_impl)(code, rows, width, a, depth, out);
  }
  std::memset(out, 0, sizeof(float) * width * depth);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < width; ++j)
      for (int64_t k = 0; k < depth; ++k) out[j * depth + k] += code[i * width + j] * a[i * depth + k];
}

void column_sums(const float* a, int64_t rows, int64_t cols, float* out) {
  std::memset(out, 0, sizeof(float) * cols);
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = a + r * cols;
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) out[c] += row[c];
  }
}

void transpose(const float* in, int64_t rows, int64_t cols, float* out) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) out[c * rows + r] = in[r * cols + c];
}

void pad_columns(const float* in, int64_t rows, int64_t cols, int64_t padded_cols, float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    std::copy_n(in + r * cols, cols, out + r * padded_cols);
    std::fill(out + r * padded_cols + cols, out + (r + 1) * padded_cols, 0.0f);
  }
}

void unpad_columns(const float* in, int64_t rows, int64_t padded_cols, int64_t cols, float* out) {
  for (int64_t r = 0; r < rows; ++r) std::copy_n(in + r * padded_cols, cols, out + r * cols);
}

}  // namespace genzoo::kernels
#endif  // HWY_ONCE
