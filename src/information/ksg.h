// Mutual information by k nearest neighbours (seeds 000, 002): the Kraskov-Stoegbauer-Grassberger
// estimator and what it needs (digamma, standardized columns, a principal-component projection).
// KSG is the reference the compressed and flow estimators (information/compression.h,
// information/flow_estimator.h) are measured against: it is consistent, but biased low at high MI and
// in high dimension (bench/RESULTS.md "Information").
#pragma once

#include <cstdint>
#include <vector>

namespace genzoo {

// KSG estimator (Kraskov et al. 2004, algorithm 1, max-norm) of I(X; Y) in nats for n paired samples
// x [n, dx], y [n, dy] (row-major): psi(k) + psi(n) - <psi(n_x + 1) + psi(n_y + 1)>. Exact neighbour
// search, O(n^2 (dx + dy)) time and O(n) memory per thread; ties are broken by noise of 1e-10 times each
// column's scale. Throws ReduceError when n <= k or the sizes do not match.
double ksg_mutual_information(const std::vector<double>& x, int64_t dx, const std::vector<double>& y, int64_t dy,
                              int64_t n, int k = 3);

// Digamma function psi(x) for x > 0.
double digamma(double x);

// Columns of values [n, dim] shifted to mean 0 and scaled to variance 1 (constant columns: 0). KSG
// counts neighbours in the max-norm of both spaces at once, so its finite-sample estimate depends on
// how the two spaces are scaled against each other; reduce standardizes both sides.
std::vector<double> standardize_columns(std::vector<double> values, int64_t n, int64_t dim);

// The k-NN estimator in high dimension needs few coordinates: values [n, dim] standardized per column
// and projected onto their first max_components principal components (columns without variance drop).
// *components: how many came out (at most max_components, the kept columns and n). *kept_share, when
// asked for: the share of the standardized columns' total variance those components keep (1 when no
// column varies).
std::vector<double> principal_components(const std::vector<double>& values, int64_t n, int64_t dim,
                                         int64_t max_components, int64_t* components, double* kept_share = nullptr);
std::vector<double> principal_components(const std::vector<float>& values, int64_t n, int64_t dim,
                                         int64_t max_components, int64_t* components, double* kept_share = nullptr);

}  // namespace genzoo
