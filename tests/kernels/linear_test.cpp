// Tests for src/kernels/linear.cpp, under every instruction set: every kernel against a naive double-precision reference on
// random inputs. Row counts 1, 5, 13 and 64 exercise the full 16-, 8- and 4-row register tiles and their
// remainders; widths 16, 32 and 48 the one-, two- and three-block vector paths, width 8 / depth 40
// the scalar fallbacks, depth 784 (12 x 64 + 16 columns) the 4-block and 1-block column tiles.
//
// Tolerance: 1e-4 relative to the size of the terms, |out - ref| <= 1e-4 * (sum_i |a_i b_i| + 1e-3).
// The kernels accumulate in float (FMA, summation order differs from the reference); summing n
// products in float errs by at most ~n * 2^-24 relative to the sum of their magnitudes, which is
// 784 * 6e-8 = 5e-5 for the longest sums here. A wrong index or a missed remainder row gives errors
// of the order of the values themselves.
#include "kernels/linear.h"

#include <gtest/gtest.h>

#include "helpers.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "common/rng.h"

namespace genzoo::test {
namespace {

constexpr double kRelTol = 1e-4;

std::vector<float> random_floats(int64_t n, uint64_t seed, double low = -1.0, double high = 1.0) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(low + (high - low) * rng.uniform());
  return v;
}

// Checks out[i] against reference ref[i] whose term magnitudes are scale[i].
void expect_close(const std::vector<float>& out, const std::vector<double>& ref, const std::vector<double>& scale,
                  const std::string& what) {
  ASSERT_EQ(out.size(), ref.size()) << what;
  int reported = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    const double tol = kRelTol * (scale[i] + 1e-3);
    if (std::fabs(out[i] - ref[i]) > tol && reported++ < 5) {
      ADD_FAILURE() << what << ": element " << i << " is " << out[i] << ", reference " << ref[i] << " (tolerance " << tol
                    << ")";
    }
  }
}

struct Shape {
  int64_t rows, width;
};

std::string name_of(const Shape& s) { return "rows=" + std::to_string(s.rows) + " width=" + std::to_string(s.width); }

// Widths of four vectors and more (the vae's 128 hidden units; 80 = 4 + 1 vectors on AVX-512) take
// the 6 x 4 tiles and, in rows_times_rows, several blocks of 16 outputs.
const std::vector<Shape> kShapes = {{1, 16}, {5, 16}, {13, 16}, {64, 16}, {1, 32}, {5, 32}, {13, 32}, {64, 32},
                                    {13, 8},  {5, 48}, {64, 128}, {7, 80}};

class LinearKernels : public EveryIsa {};

TEST_P(LinearKernels, RowsTimesNarrowMatchesReference) {
  for (const int64_t depth : {int64_t{784}, int64_t{40}, int64_t{3}}) {
    for (const Shape& s : kShapes) {
      for (const bool with_bias : {true, false}) {
        const std::string what = "rows_times_narrow " + name_of(s) + " depth=" + std::to_string(depth) +
                                 (with_bias ? " bias" : " no bias");
        const auto a = random_floats(s.rows * depth, 1 + s.rows + depth, 0.0, 1.0);
        const auto w = random_floats(depth * s.width, 2 + s.width);
        const auto bias = random_floats(s.width, 3);
        std::vector<float> out(s.rows * s.width, -777.0f);
        kernels::rows_times_narrow(a.data(), s.rows, depth, w.data(), s.width, with_bias ? bias.data() : nullptr,
                                   out.data());
        std::vector<double> ref(out.size()), scale(out.size());
        for (int64_t r = 0; r < s.rows; ++r) {
          for (int64_t j = 0; j < s.width; ++j) {
            double sum = with_bias ? bias[j] : 0.0, mag = with_bias ? std::fabs(bias[j]) : 0.0;
            for (int64_t d = 0; d < depth; ++d) {
              sum += static_cast<double>(a[r * depth + d]) * w[d * s.width + j];
              mag += std::fabs(static_cast<double>(a[r * depth + d]) * w[d * s.width + j]);
            }
            ref[r * s.width + j] = sum;
            scale[r * s.width + j] = mag;
          }
        }
        expect_close(out, ref, scale, what);
      }
    }
  }
}

TEST_P(LinearKernels, TransposedTimesNarrowMatchesReference) {
  // depth plays the 784 role here (output rows), rows the batch (the summed dimension).
  for (const int64_t depth : {int64_t{784}, int64_t{13}, int64_t{5}, int64_t{1}}) {
    for (const Shape& s : kShapes) {
      const std::string what = "transposed_times_narrow " + name_of(s) + " depth=" + std::to_string(depth);
      const auto a = random_floats(s.rows * depth, 10 + s.rows + depth);
      const auto b = random_floats(s.rows * s.width, 11 + s.width);
      std::vector<float> out(depth * s.width, -777.0f);
      kernels::transposed_times_narrow(a.data(), s.rows, depth, b.data(), s.width, out.data());
      std::vector<double> ref(out.size(), 0.0), scale(out.size(), 0.0);
      for (int64_t i = 0; i < s.rows; ++i) {
        for (int64_t d = 0; d < depth; ++d) {
          for (int64_t j = 0; j < s.width; ++j) {
            const double term = static_cast<double>(a[i * depth + d]) * b[i * s.width + j];
            ref[d * s.width + j] += term;
            scale[d * s.width + j] += std::fabs(term);
          }
        }
      }
      expect_close(out, ref, scale, what);
    }
  }
}

TEST_P(LinearKernels, DecodeResidualMatchesReference) {
  for (const int64_t depth : {int64_t{784}, int64_t{48}, int64_t{40}}) {
    for (const Shape& s : kShapes) {
      const std::string what = "decode_residual " + name_of(s) + " depth=" + std::to_string(depth);
      const int64_t rows = s.rows, width = s.width;
      const auto code = random_floats(rows * width, 20 + rows + width);
      const auto wt = random_floats(width * depth, 21 + depth, -0.3, 0.3);
      const auto bias = random_floats(depth, 22, -0.2, 0.2);
      const auto target = random_floats(rows * depth, 23 + rows, 0.0, 1.0);
      const float scale_factor = 2.0f / static_cast<float>(rows * depth);
      std::vector<float> grad(rows * depth, -777.0f);
      std::vector<float> grad_sums(depth, -777.0f);  // must be overwritten, not accumulated into
      const double squared = kernels::decode_residual(code.data(), rows, width, wt.data(), bias.data(), depth,
                                                      target.data(), scale_factor, grad.data(), grad_sums.data());

      std::vector<double> ref_grad(rows * depth), grad_scale(rows * depth), ref_sums(depth, 0.0), sums_scale(depth, 0.0);
      double ref_squared = 0.0;
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t d = 0; d < depth; ++d) {
          double y = bias[d], mag = std::fabs(bias[d]) + target[r * depth + d];
          for (int64_t j = 0; j < width; ++j) {
            y += static_cast<double>(code[r * width + j]) * wt[j * depth + d];
            mag += std::fabs(static_cast<double>(code[r * width + j]) * wt[j * depth + d]);
          }
          const double diff = y - target[r * depth + d];
          ref_squared += diff * diff;
          ref_grad[r * depth + d] = scale_factor * diff;
          grad_scale[r * depth + d] = scale_factor * mag;
          ref_sums[d] += scale_factor * diff;
          sums_scale[d] += scale_factor * mag;
        }
      }
      expect_close(grad, ref_grad, grad_scale, what + " grad");
      expect_close(grad_sums, ref_sums, sums_scale, what + " grad_sums");
      EXPECT_NEAR(squared, ref_squared, kRelTol * ref_squared) << what << " squared error";
      EXPECT_GT(ref_squared, 0.0);
    }
  }
}

TEST_P(LinearKernels, RowsTimesRowsMatchesReference) {
  // depth 784 and 48: vector path (multiples of 16); 40: scalar fallback. Width 8: 4-column tiles
  // only twice; width 6 is not a multiple of 4 (scalar fallback).
  std::vector<Shape> shapes = kShapes;
  shapes.push_back({13, 6});
  for (const int64_t depth : {int64_t{784}, int64_t{48}, int64_t{40}}) {
    for (const Shape& s : shapes) {
      const std::string what = "rows_times_rows " + name_of(s) + " depth=" + std::to_string(depth);
      const auto a = random_floats(s.rows * depth, 50 + s.rows + depth, 0.0, 1.0);
      const auto w = random_floats(s.width * depth, 51 + s.width);
      std::vector<float> out(s.rows * s.width, -777.0f);
      kernels::rows_times_rows(a.data(), s.rows, depth, w.data(), s.width, out.data());
      std::vector<double> ref(out.size(), 0.0), scale(out.size(), 0.0);
      for (int64_t r = 0; r < s.rows; ++r) {
        for (int64_t j = 0; j < s.width; ++j) {
          for (int64_t d = 0; d < depth; ++d) {
            const double term = static_cast<double>(a[r * depth + d]) * w[j * depth + d];
            ref[r * s.width + j] += term;
            scale[r * s.width + j] += std::fabs(term);
          }
        }
      }
      expect_close(out, ref, scale, what);
    }
  }
}

TEST_P(LinearKernels, NarrowTransposedTimesRowsMatchesReference) {
  // depth 784 = 12 x 64 + 16 and 48 = 3 x 16: the 4-block and 1-block tiles; 40: scalar fallback.
  std::vector<Shape> shapes = kShapes;
  shapes.push_back({13, 6});
  for (const int64_t depth : {int64_t{784}, int64_t{48}, int64_t{40}}) {
    for (const Shape& s : shapes) {
      const std::string what = "narrow_transposed_times_rows " + name_of(s) + " depth=" + std::to_string(depth);
      const auto code = random_floats(s.rows * s.width, 60 + s.rows + s.width);
      const auto a = random_floats(s.rows * depth, 61 + depth);
      std::vector<float> out(s.width * depth, -777.0f);
      kernels::narrow_transposed_times_rows(code.data(), s.rows, s.width, a.data(), depth, out.data());
      std::vector<double> ref(out.size(), 0.0), scale(out.size(), 0.0);
      for (int64_t i = 0; i < s.rows; ++i) {
        for (int64_t j = 0; j < s.width; ++j) {
          for (int64_t d = 0; d < depth; ++d) {
            const double term = static_cast<double>(code[i * s.width + j]) * a[i * depth + d];
            ref[j * depth + d] += term;
            scale[j * depth + d] += std::fabs(term);
          }
        }
      }
      expect_close(out, ref, scale, what);
    }
  }
}

TEST_P(LinearKernels, ColumnSumsMatchReference) {
  for (const int64_t rows : {int64_t{1}, int64_t{5}, int64_t{13}, int64_t{64}}) {
    for (const int64_t cols : {int64_t{16}, int64_t{32}, int64_t{784}, int64_t{7}}) {
      const auto a = random_floats(rows * cols, 30 + rows * cols);
      std::vector<float> out(cols, -777.0f);
      kernels::column_sums(a.data(), rows, cols, out.data());
      std::vector<double> ref(cols, 0.0), scale(cols, 0.0);
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < cols; ++c) {
          ref[c] += a[r * cols + c];
          scale[c] += std::fabs(a[r * cols + c]);
        }
      }
      expect_close(out, ref, scale, "column_sums rows=" + std::to_string(rows) + " cols=" + std::to_string(cols));
    }
  }
}

TEST_P(LinearKernels, TransposeIsExact) {
  for (const int64_t rows : {int64_t{1}, int64_t{5}, int64_t{16}, int64_t{784}}) {
    for (const int64_t cols : {int64_t{1}, int64_t{13}, int64_t{32}}) {
      const auto in = random_floats(rows * cols, 40 + rows + cols);
      std::vector<float> out(rows * cols, -777.0f);
      kernels::transpose(in.data(), rows, cols, out.data());
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < cols; ++c) {
          ASSERT_EQ(out[c * rows + r], in[r * cols + c]) << "rows=" << rows << " cols=" << cols << " at " << r << "," << c;
        }
      }
      // Transposing back is the identity.
      std::vector<float> back(rows * cols);
      kernels::transpose(out.data(), cols, rows, back.data());
      EXPECT_EQ(back, in);
    }
  }
}

GENZOO_INSTANTIATE_EVERY_ISA(LinearKernels);

}  // namespace
}  // namespace genzoo::test
