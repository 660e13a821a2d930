// Mutual information on compressed representations (seed 002, Tolmachev et al.): k-NN estimators fail
// in high dimension, so each side is first compressed to a few coordinates, by PCA or by an autoencoder
// trained on it, and KSG runs on the codes. Compression can only lose information (data processing
// inequality): the estimate targets I(code(X); code(Y)) <= I(X; Y), which is close when the codes keep
// the directions the two sides share.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace genzoo {

struct AutoencoderCodeOptions {
  int64_t code = 4;       // code width
  int64_t hidden = 64;    // dim -> hidden -> code -> hidden -> dim, LeakyReLU (the seed's activation)
  int64_t steps = 1000;   // Adam steps on the standardized values
  int64_t batch_size = 256;
  double lr = 1e-3;
  uint64_t seed = 0;
};

struct Codes {
  std::vector<double> values;  // [n, dim]
  int64_t dim = 0;
  double reconstruction_mse = 0.0;  // autoencoder: per standardized coordinate, over all n; PCA: the share of the
                                    // standardized variance left out (the same when every column varies)
};

// The codes of an autoencoder trained on values [n, dim] (standardized per column). A side with at most
// `code` columns is returned standardized, uncompressed.
Codes autoencoder_codes(const std::vector<double>& values, int64_t n, int64_t dim, const AutoencoderCodeOptions& options);

// The first `code` principal components of the standardized values (information/ksg.h).
Codes pca_codes(const std::vector<double>& values, int64_t n, int64_t dim, int64_t code);

// "pca" | "autoencoder" | "none" (standardized, uncompressed).
const std::vector<std::string>& compressions();
Codes compress(const std::string& compression, const std::vector<double>& values, int64_t n, int64_t dim,
               const AutoencoderCodeOptions& options);

// KSG on both sides compressed by `compression` to options.code coordinates (k neighbours).
double compressed_ksg(const std::string& compression, const std::vector<double>& x, int64_t dx, const std::vector<double>& y,
                      int64_t dy, int64_t n, const AutoencoderCodeOptions& options, int k = 3);

}  // namespace genzoo
