// Tests for src/information/compression.{h,cpp}: PCA and autoencoder codes keep a low-dimensional
// signal, and KSG on the codes recovers mutual information that plain KSG loses in high dimension.
#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"
#include "information/compression.h"
#include "information/correlated_gaussians.h"
#include "information/ksg.h"

namespace genzoo {
namespace {

PairedSamples low_dimensional_signal(int64_t d, int64_t pairs, double mi, int64_t n) {
  CorrelatedGaussianSpec spec;
  spec.dx = spec.dy = d;
  spec.pairs = pairs;
  spec.nuisance_scale = 0.05;
  spec.samples = n;
  spec.mutual_information = mi;
  spec.seed = 11;
  return correlated_gaussians(spec);
}

TEST(Compression, PcaCodesKeepTheVarianceOfASubspace) {
  const PairedSamples s = low_dimensional_signal(12, 2, 1.0, 1000);
  const Codes codes = pca_codes(s.x, s.n, 12, 2);
  EXPECT_EQ(codes.dim, 2);
  EXPECT_EQ(codes.values.size(), 2000u);
  // Standardizing the rotated columns mixes some nuisance in; what is left out stays small.
  EXPECT_LT(codes.reconstruction_mse, 0.05);
  EXPECT_GT(pca_codes(s.x, s.n, 12, 1).reconstruction_mse, 0.3);
  // By its definition: every column varies, so the standardized total variance is n · 12; the codes keep theirs.
  double kept = 0.0;
  for (double v : codes.values) kept += v * v;
  EXPECT_NEAR(codes.reconstruction_mse, 1.0 - kept / (static_cast<double>(s.n) * 12.0), 1e-12);
}

TEST(Compression, AutoencoderCodesReconstructALowDimensionalSignal) {
  const PairedSamples s = low_dimensional_signal(12, 2, 1.0, 1000);
  AutoencoderCodeOptions options;
  options.code = 2;
  options.steps = 600;
  const Codes codes = autoencoder_codes(s.x, s.n, 12, options);
  EXPECT_EQ(codes.dim, 2);
  EXPECT_LT(codes.reconstruction_mse, 0.1);
  // A side no wider than the code comes back standardized, uncompressed.
  const Codes narrow = autoencoder_codes(std::vector<double>(s.x.begin(), s.x.begin() + 2 * s.n), s.n, 2, options);
  EXPECT_EQ(narrow.dim, 2);
  EXPECT_DOUBLE_EQ(narrow.reconstruction_mse, 0.0);
}

TEST(Compression, CompressedKsgBeatsPlainKsgInHighDimension) {
  // 2 nats in 2 directions of 40: plain KSG drowns in the nuisance dimensions.
  const PairedSamples s = low_dimensional_signal(40, 2, 2.0, 2000);
  AutoencoderCodeOptions options;
  options.code = 2;
  options.steps = 800;
  const double plain = ksg_mutual_information(standardize_columns(s.x, s.n, 40), 40, standardize_columns(s.y, s.n, 40), 40, s.n);
  const double pca = compressed_ksg("pca", s.x, 40, s.y, 40, s.n, options);
  const double autoencoder = compressed_ksg("autoencoder", s.x, 40, s.y, 40, s.n, options);
  EXPECT_NEAR(pca, 2.0, 0.25);
  EXPECT_NEAR(autoencoder, 2.0, 0.4);
  EXPECT_LT(plain, pca - 0.3);
  EXPECT_THROW(compressed_ksg("zip", s.x, 40, s.y, 40, s.n, options), ReduceError);
}

}  // namespace
}  // namespace genzoo
