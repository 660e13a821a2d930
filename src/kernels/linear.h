// Register-blocked kernels for the linear family's skinny GEMMs (batch x 784 x k). One source,
// compiled per instruction set by Highway and dispatched at run time (kernels/isa.h): each kernel
// keeps a tile of outputs in vector registers, sized to the target's register file, and streams the
// long (784) dimension once: no packing, no library overhead. Widths (and depths) that are a multiple
// of float_lanes() take the vector path; other shapes are computed by a plain loop.
#pragma once

#include <cstdint>

namespace genzoo::kernels {

// out[r, :] = bias + sum_d a[r, d] * w[d, :].  a [rows, depth], w [depth, width], out [rows, width].
// bias may be null (zero).
void rows_times_narrow(const float* a, int64_t rows, int64_t depth, const float* w, int64_t width,
                       const float* bias, float* out);

// out[d, :] = sum_r a[r, d] * b[r, :].  a [rows, depth], b [rows, width], out [depth, width].
void transposed_times_narrow(const float* a, int64_t rows, int64_t depth, const float* b, int64_t width, float* out);

// Decoder with fused loss: y = code * wt + bias (code [rows, width], wt [width, depth]),
// grad = scale * (y - target) [rows, depth], grad_sums[d] = sum_r grad[r, d] (the bias gradient);
// returns sum of (y - target)^2.
double decode_residual(const float* code, int64_t rows, int64_t width, const float* wt, const float* bias,
                       int64_t depth, const float* target, float scale, float* grad, float* grad_sums);

// out[r, j] = sum_d a[r, d] * w[j, d].  a [rows, depth], w [width, depth], out [rows, width]
// (long dot products).
void rows_times_rows(const float* a, int64_t rows, int64_t depth, const float* w, int64_t width, float* out);

// out[j, d] = sum_r code[r, j] * a[r, d].  code [rows, width], a [rows, depth], out [width, depth].
void narrow_transposed_times_rows(const float* code, int64_t rows, int64_t width, const float* a, int64_t depth,
                                  float* out);

// out[c] = sum_r a[r, c].
void column_sums(const float* a, int64_t rows, int64_t cols, float* out);

// out [cols, rows] = in [rows, cols]^T.
void transpose(const float* in, int64_t rows, int64_t cols, float* out);

// out [rows, padded_cols] = in [rows, cols] with zero columns appended (padded_cols >= cols), and back.
void pad_columns(const float* in, int64_t rows, int64_t cols, int64_t padded_cols, float* out);
void unpad_columns(const float* in, int64_t rows, int64_t padded_cols, int64_t cols, float* out);

}  // namespace genzoo::kernels
