// Seed 000's theorem (Nikitina 2025) in closed form: X = {x_1 ... x_n}, x_i ~ N(μ, Σ) in R^d; X1 ⊂ X keeps
// each x_i independently with probability p (m = |X1|); a linear autoencoder x -> W2 (W1 x + b1) + b2 with
// W1 ∈ R^{k×d} is trained on X1; s are its singular values. The seed states
//   (1) I(X; X1) ≈ n p H(x),  H(x) = ½ log((2πe)^d |Σ|)
//   (2) I(X1; W) = (m/2) log(|Σ| / |(I - W2 W1) Σ (I - W2 W1)ᵀ|)
//   (3) I(X1; s) ≈ (m/4) log((2πe)^k Π_{i<=k} λ_i²),  λ_1 >= ... the eigenvalues of Σ
// What each needs, read critically (bench/RESULTS.md "Seed 000's theorem"):
//   (1) is E[m] H(x), the differential entropy of the rows X1 keeps. As a mutual information of continuous
//       X and X1 it is infinite (X1 is a function of X and the selection), and it is negative when |Σ| is
//       small, which no mutual information can be.
//   (2) is m times the log volume ratio of the data to the autoencoder's residual. For a converged AE with
//       k < d, I - W2 W1 is a projection of rank d - k and the residual covariance is singular: (2) is +∞.
//       residual_subspace_information gives the finite part on the residual's own d - k directions.
//   (3) treats s as Gaussian with the top-k eigenvalues as its scale, growing with m, although the sample
//       eigenvalues concentrate as m grows (their variance is 2λ_i²/m for distinct eigenvalues).
#pragma once

#include <cstdint>
#include <vector>

namespace genzoo {

// H(x) = ½ log((2πe)^d Π λ_i) of N(μ, Σ) from Σ's eigenvalues.
double gaussian_entropy(const std::vector<double>& eigenvalues);

// (1): n p H(x).
double theorem_subset_information(int64_t n, double p, const std::vector<double>& eigenvalues);

struct WeightInformation {
  double nats = 0.0;             // (2) as stated; +infinity when the residual covariance is singular
  double residual_subspace = 0.0; // (m/2) (log |Σ| - Σ_{j <= d-k} log μ_j), μ_1 >= ... the residual covariance's
                                  // eigenvalues: (2) on the d - k directions a rank-k AE cannot reconstruct
  int64_t residual_rank = 0;      // eigenvalues of the residual covariance above 1e-9 of the largest
};

// (2) for one model: sigma [d, d] row-major, w1 [k, d], w2 [d, k], m its training-set size.
WeightInformation theorem_weight_information(int64_t m, const std::vector<double>& sigma, const std::vector<double>& w1,
                                             const std::vector<double>& w2, int64_t d, int64_t k);

// (3): (m/4) log((2πe)^k Π_{i<=k} λ_i²) with the k largest eigenvalues.
double theorem_singular_information(int64_t m, int64_t k, std::vector<double> eigenvalues);

// Seed 000's setting as a zoo: n pool vectors, inclusion p, the covariance Σ, and per model its subset's
// size m, its weights W1 [k, d] and W2 [d, k], and its subset's moments (mean, then the upper triangle of the
// covariance: a linear AE's loss depends on X1 only through them, so they stand in for X1).
struct TheoremZoo {
  int64_t d = 0, k = 0, n = 0;
  double p = 0.0;
  std::vector<double> sigma;          // [d, d] row-major, positive definite (a diagonal one: diagonal_matrix(spectrum))
  std::vector<int64_t> m;             // [N]
  std::vector<double> w1, w2;         // [N, k, d], [N, d, k]
  std::vector<double> moments;        // [N, moment_dim(d)]
  int64_t models() const { return static_cast<int64_t>(m.size()); }
};
int64_t moment_dim(int64_t d);
// Mean and upper-triangular covariance (divided by m) of rows `indices` of values [*, d].
std::vector<double> subset_moments(const float* values, int64_t d, const std::vector<int64_t>& indices);

struct TheoremCheck {
  double subset_closed = 0.0;                                   // (1), the zoo's n and p
  std::vector<double> weight_closed, weight_residual, singular_closed;  // (2), its residual part, (3): per model
  // I(X1; s) and I(X1; P) over the zoo, P = W2 W1 (W alone is not identified): KSG and the flow estimator's
  // held-out form, between the first 4 principal components of the moments and the statistic (P on its
  // first k principal components). The flow needs flow_min_samples models; NaN below.
  double s_ksg = 0.0, s_flow = 0.0, p_ksg = 0.0, p_flow = 0.0;
};
// Throws ReduceError when the zoo has fewer than 8 models or its arrays do not match.
TheoremCheck check_theorem(const TheoremZoo& zoo, int neighbours = 3, int64_t flow_steps = 600, uint64_t seed = 0);

// Eigenvalues (descending) of a symmetric matrix [d, d] row-major.
std::vector<double> symmetric_eigenvalues(const std::vector<double>& matrix, int64_t d);

// diag(values) [d, d] row-major, d = values.size().
std::vector<double> diagonal_matrix(const std::vector<double>& values);

}  // namespace genzoo
