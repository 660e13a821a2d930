#include "train/linear_kernels.h"

#include <algorithm>
#include <cstring>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace genzoo::kernels {

namespace {

#if defined(__AVX512F__)

// Unrolls a loop over a tile's registers early: left as a loop when GCC decides where the
// accumulator array lives, the array stays on the stack and is stored and reloaded around every tile.
#define GENZOO_UNROLL_TILE _Pragma("GCC unroll 16")

// R rows x one 16-lane column block of rows_times_narrow.
template <int R>
inline void narrow_tile(const float* a, int64_t depth, const float* w, int64_t width, const float* bias, float* out) {
  __m512 acc[R];
  const __m512 b = bias ? _mm512_loadu_ps(bias) : _mm512_setzero_ps();
  GENZOO_UNROLL_TILE
  for (int r = 0; r < R; ++r) acc[r] = b;
  for (int64_t d = 0; d < depth; ++d) {
    const __m512 wv = _mm512_loadu_ps(w + d * width);
    GENZOO_UNROLL_TILE
    for (int r = 0; r < R; ++r) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(a[r * depth + d]), wv, acc[r]);
  }
  GENZOO_UNROLL_TILE
  for (int r = 0; r < R; ++r) _mm512_storeu_ps(out + r * width, acc[r]);
}

// R depth-rows x one 16-lane column block of transposed_times_narrow.
template <int R>
inline void transposed_tile(const float* a, int64_t rows, int64_t depth, const float* b, int64_t width, float* out) {
  __m512 acc[R];
  GENZOO_UNROLL_TILE
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  for (int64_t i = 0; i < rows; ++i) {
    const __m512 bv = _mm512_loadu_ps(b + i * width);
    const float* ai = a + i * depth;
    GENZOO_UNROLL_TILE
    for (int r = 0; r < R; ++r) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(ai[r]), bv, acc[r]);
  }
  GENZOO_UNROLL_TILE
  for (int r = 0; r < R; ++r) _mm512_storeu_ps(out + r * width, acc[r]);
}

// R rows x C 16-lane column blocks of decode_residual; returns the tile's squared error.
template <int R, int C>
inline __m512 residual_tile(const float* code, int64_t width, const float* wt, const float* bias, int64_t depth,
                            const float* target, __m512 scale, float* grad, float* grad_sums, __m512 sq) {
  __m512 acc[R][C];
  GENZOO_UNROLL_TILE
  for (int c = 0; c < C; ++c) {
    const __m512 bv = _mm512_loadu_ps(bias + 16 * c);
    GENZOO_UNROLL_TILE
    for (int r = 0; r < R; ++r) acc[r][c] = bv;
  }
  for (int64_t j = 0; j < width; ++j) {
    __m512 wv[C];
    GENZOO_UNROLL_TILE
    for (int c = 0; c < C; ++c) wv[c] = _mm512_loadu_ps(wt + j * depth + 16 * c);
    GENZOO_UNROLL_TILE
    for (int r = 0; r < R; ++r) {
      const __m512 z = _mm512_set1_ps(code[r * width + j]);
      GENZOO_UNROLL_TILE
      for (int c = 0; c < C; ++c) acc[r][c] = _mm512_fmadd_ps(z, wv[c], acc[r][c]);
    }
  }
  GENZOO_UNROLL_TILE
  for (int c = 0; c < C; ++c) {
    __m512 column_sum = _mm512_loadu_ps(grad_sums + 16 * c);
    GENZOO_UNROLL_TILE
    for (int r = 0; r < R; ++r) {
      const __m512 diff = _mm512_sub_ps(acc[r][c], _mm512_loadu_ps(target + r * depth + 16 * c));
      sq = _mm512_fmadd_ps(diff, diff, sq);
      const __m512 g = _mm512_mul_ps(scale, diff);
      _mm512_storeu_ps(grad + r * depth + 16 * c, g);
      column_sum = _mm512_add_ps(column_sum, g);
    }
    _mm512_storeu_ps(grad_sums + 16 * c, column_sum);
  }
  return sq;
}

// All rows of one block of C * 16 columns: the block's slice of wt (width x C * 16) stays in L1
// while the rows pass, instead of all of wt streaming from L2 for every few rows.
template <int C>
inline __m512 residual_columns(const float* code, int64_t rows, int64_t width, const float* wt, const float* bias,
                               int64_t depth, const float* target, __m512 scale, float* grad, float* grad_sums,
                               __m512 sq) {
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    sq = residual_tile<4, C>(code + r * width, width, wt, bias, depth, target + r * depth, scale, grad + r * depth,
                             grad_sums, sq);
  }
  for (; r < rows; ++r) {
    sq = residual_tile<1, C>(code + r * width, width, wt, bias, depth, target + r * depth, scale, grad + r * depth,
                             grad_sums, sq);
  }
  return sq;
}

// Lane i of the result = the sum of the lanes of v[i]. A transpose-and-add tree: 30 shuffles and 15
// adds for all 16 sums instead of 16 separate reductions of 4 shuffles and 4 adds each.
inline __m512 lane_sums(const __m512 v[16]) {
  __m512 pairs[8], quads[4], halves[2];
  // Per 128-bit block: [a0+a2, b0+b2, a1+a3, b1+b3] for v[2i] = a, v[2i+1] = b.
  GENZOO_UNROLL_TILE
  for (int i = 0; i < 8; ++i)
    pairs[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
  // Per 128-bit block: the block's sums of v[4i], ..., v[4i + 3].
  GENZOO_UNROLL_TILE
  for (int i = 0; i < 4; ++i) {
    const __m512d x = _mm512_castps_pd(pairs[2 * i]), y = _mm512_castps_pd(pairs[2 * i + 1]);
    quads[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)), _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
  }
  // Adding the blocks pairwise, twice: block i ends up holding the totals of v[4i], ..., v[4i + 3].
  GENZOO_UNROLL_TILE
  for (int i = 0; i < 2; ++i) {
    halves[i] = _mm512_add_ps(_mm512_shuffle_f32x4(quads[2 * i], quads[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                              _mm512_shuffle_f32x4(quads[2 * i], quads[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
  }
  return _mm512_add_ps(_mm512_shuffle_f32x4(halves[0], halves[1], _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_f32x4(halves[0], halves[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

// R rows x R2 outputs of rows_times_rows over `length` of the depth (rows `depth` apart), added to
// out unless first: R*R2 vector accumulators reduced horizontally at the end.
template <int R, int R2>
inline void dot_tile(const float* a, int64_t depth, int64_t length, const float* w, float* out, int64_t width, bool first) {
  __m512 acc[R][R2];
  GENZOO_UNROLL_TILE
  for (int r = 0; r < R; ++r)
    GENZOO_UNROLL_TILE
    for (int q = 0; q < R2; ++q) acc[r][q] = _mm512_setzero_ps();
  for (int64_t d = 0; d < length; d += 16) {
    __m512 wv[R2];
    GENZOO_UNROLL_TILE
    for (int q = 0; q < R2; ++q) wv[q] = _mm512_loadu_ps(w + q * depth + d);
    GENZOO_UNROLL_TILE
    for (int r = 0; r < R; ++r) {
      const __m512 av = _mm512_loadu_ps(a + r * depth + d);
      GENZOO_UNROLL_TILE
      for (int q = 0; q < R2; ++q) acc[r][q] = _mm512_fmadd_ps(av, wv[q], acc[r][q]);
    }
  }
  if constexpr (R * R2 == 16 && R2 == 4) {
    const __m512 sums = lane_sums(&acc[0][0]);  // lane 4r + q: output (r, q)
    GENZOO_UNROLL_TILE
    for (int r = 0; r < R; ++r) {
      const __m128 part = _mm512_extractf32x4_ps(sums, r);
      _mm_storeu_ps(out + r * width, first ? part : _mm_add_ps(_mm_loadu_ps(out + r * width), part));
    }
  } else {
    GENZOO_UNROLL_TILE
    for (int r = 0; r < R; ++r)
      GENZOO_UNROLL_TILE
      for (int q = 0; q < R2; ++q) out[r * width + q] = (first ? 0.0f : out[r * width + q]) + _mm512_reduce_add_ps(acc[r][q]);
  }
}

// R code columns x C 16-lane blocks of narrow_transposed_times_rows, reducing over all rows.
template <int R, int C>
inline void code_transposed_tile(const float* code, int64_t rows, int64_t width, const float* a, int64_t depth,
                                 float* out) {
  __m512 acc[R][C];
  GENZOO_UNROLL_TILE
  for (int r = 0; r < R; ++r)
    GENZOO_UNROLL_TILE
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
  for (int64_t i = 0; i < rows; ++i) {
    __m512 av[C];
    GENZOO_UNROLL_TILE
    for (int c = 0; c < C; ++c) av[c] = _mm512_loadu_ps(a + i * depth + 16 * c);
    GENZOO_UNROLL_TILE
    for (int r = 0; r < R; ++r) {
      const __m512 z = _mm512_set1_ps(code[i * width + r]);
      GENZOO_UNROLL_TILE
      for (int c = 0; c < C; ++c) acc[r][c] = _mm512_fmadd_ps(z, av[c], acc[r][c]);
    }
  }
  GENZOO_UNROLL_TILE
  for (int r = 0; r < R; ++r)
    GENZOO_UNROLL_TILE
    for (int c = 0; c < C; ++c) _mm512_storeu_ps(out + r * depth + 16 * c, acc[r][c]);
}

#undef GENZOO_UNROLL_TILE

#endif  // __AVX512F__

// Portable reference for shapes the vector kernels do not cover (and for machines without AVX-512).
void rows_times_narrow_scalar(const float* a, int64_t rows, int64_t depth, const float* w, int64_t width,
                              const float* bias, float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    float* o = out + r * width;
    for (int64_t j = 0; j < width; ++j) o[j] = bias ? bias[j] : 0.0f;
    for (int64_t d = 0; d < depth; ++d) {
      const float ad = a[r * depth + d];
      for (int64_t j = 0; j < width; ++j) o[j] += ad * w[d * width + j];
    }
  }
}

}  // namespace

void rows_times_narrow(const float* a, int64_t rows, int64_t depth, const float* w, int64_t width,
                       const float* bias, float* out) {
#if defined(__AVX512F__)
  if (width % kLanes == 0) {
    for (int64_t col = 0; col < width; col += kLanes) {
      const float* bias_block = bias ? bias + col : nullptr;
      int64_t r = 0;
      // 16 rows keep 16 independent FMA chains in flight: 8 (two FMA ports x 4 cycles latency) are
      // just enough in theory, and with 8 this loop ran measurably below the FMA throughput.
      for (; r + 16 <= rows; r += 16) narrow_tile<16>(a + r * depth, depth, w + col, width, bias_block, out + r * width + col);
      for (; r + 8 <= rows; r += 8) narrow_tile<8>(a + r * depth, depth, w + col, width, bias_block, out + r * width + col);
      for (; r < rows; ++r) narrow_tile<1>(a + r * depth, depth, w + col, width, bias_block, out + r * width + col);
    }
    return;
  }
#endif
  rows_times_narrow_scalar(a, rows, depth, w, width, bias, out);
}

void transposed_times_narrow(const float* a, int64_t rows, int64_t depth, const float* b, int64_t width, float* out) {
#if defined(__AVX512F__)
  if (width % kLanes == 0) {
    for (int64_t col = 0; col < width; col += kLanes) {
      int64_t d = 0;
      for (; d + 8 <= depth; d += 8) transposed_tile<8>(a + d, rows, depth, b + col, width, out + d * width + col);
      for (; d < depth; ++d) transposed_tile<1>(a + d, rows, depth, b + col, width, out + d * width + col);
    }
    return;
  }
#endif
  std::memset(out, 0, sizeof(float) * depth * width);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t d = 0; d < depth; ++d) {
      const float ad = a[i * depth + d];
      for (int64_t j = 0; j < width; ++j) out[d * width + j] += ad * b[i * width + j];
    }
  }
}

double decode_residual(const float* code, int64_t rows, int64_t width, const float* wt, const float* bias,
                       int64_t depth, const float* target, float scale, float* grad, float* grad_sums) {
  std::memset(grad_sums, 0, sizeof(float) * depth);
#if defined(__AVX512F__)
  if (depth % kLanes == 0) {
    const __m512 scale_v = _mm512_set1_ps(scale);
    __m512 sq = _mm512_setzero_ps();
    int64_t col = 0;
    for (; col + 64 <= depth; col += 64) {
      sq = residual_columns<4>(code, rows, width, wt + col, bias + col, depth, target + col, scale_v, grad + col,
                               grad_sums + col, sq);
    }
    for (; col < depth; col += 16) {
      sq = residual_columns<1>(code, rows, width, wt + col, bias + col, depth, target + col, scale_v, grad + col,
                               grad_sums + col, sq);
    }
    return _mm512_reduce_add_ps(sq);
  }
#endif
  double sq = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t d = 0; d < depth; ++d) {
      float y = bias[d];
      for (int64_t j = 0; j < width; ++j) y += code[r * width + j] * wt[j * depth + d];
      const float diff = y - target[r * depth + d];
      sq += static_cast<double>(diff) * diff;
      grad[r * depth + d] = scale * diff;
      grad_sums[d] += scale * diff;
    }
  }
  return sq;
}

void rows_times_rows(const float* a, int64_t rows, int64_t depth, const float* w, int64_t width, float* out) {
#if defined(__AVX512F__)
  if (depth % kLanes == 0 && width % 4 == 0) {
    // The depth in two halves: a half of w (25 KB for width 16) stays in L1 while all rows pass,
    // where whole rows of w streamed from L2 for every 4 rows.
    const int64_t half = (depth / kLanes + 1) / 2 * kLanes;
    for (int64_t begin = 0; begin < depth; begin += half) {
      const int64_t length = std::min(half, depth - begin);
      const float *a_part = a + begin, *w_part = w + begin;
      int64_t r = 0;
      for (; r + 4 <= rows; r += 4) {
        for (int64_t j = 0; j < width; j += 4)
          dot_tile<4, 4>(a_part + r * depth, depth, length, w_part + j * depth, out + r * width + j, width, begin == 0);
      }
      for (; r < rows; ++r) {
        for (int64_t j = 0; j < width; j += 4)
          dot_tile<1, 4>(a_part + r * depth, depth, length, w_part + j * depth, out + r * width + j, width, begin == 0);
      }
    }
    return;
  }
#endif
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < width; ++j) {
      float sum = 0.0f;
      for (int64_t d = 0; d < depth; ++d) sum += a[r * depth + d] * w[j * depth + d];
      out[r * width + j] = sum;
    }
  }
}

void narrow_transposed_times_rows(const float* code, int64_t rows, int64_t width, const float* a, int64_t depth,
                                  float* out) {
#if defined(__AVX512F__)
  if (depth % kLanes == 0 && width % 4 == 0) {
    // Column blocks outer: the block's slice of a (rows x 64) stays in L1 for all code columns.
    int64_t col = 0;
    for (; col + 64 <= depth; col += 64) {
      for (int64_t j = 0; j < width; j += 4) code_transposed_tile<4, 4>(code + j, rows, width, a + col, depth, out + j * depth + col);
    }
    for (; col < depth; col += 16) {
      for (int64_t j = 0; j < width; j += 4) code_transposed_tile<4, 1>(code + j, rows, width, a + col, depth, out + j * depth + col);
    }
    return;
  }
#endif
  std::memset(out, 0, sizeof(float) * width * depth);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < width; ++j)
      for (int64_t d = 0; d < depth; ++d) out[j * depth + d] += code[i * width + j] * a[i * depth + d];
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

}  // namespace genzoo::kernels
