// The hierarchy of the embedding space (DESIGN.md section 6): an average-linkage (UPGMA) dendrogram,
// stored in scipy's linkage format so that scipy.cluster.hierarchy draws it directly.
#pragma once

#include <cstdint>
#include <vector>

namespace genzoo {

struct Dendrogram {
  int64_t leaves = 0;
  // scipy linkage matrix [leaves - 1, 4], row-major: cluster a, cluster b (a < b), distance, size.
  // Leaves are 0..leaves-1; the cluster formed in row i is leaves + i. Heights never decrease.
  std::vector<double> linkage;
  // The leaves under each merged cluster (row i), ascending.
  std::vector<std::vector<int64_t>> members;
};

// Average linkage on a square distance matrix [n, n] (symmetric, zero diagonal). Of tied pairs the one with
// the lowest slots (leaf order) merges first. Throws ReduceError when n < 2 or the matrix is not [n, n].
Dendrogram average_linkage(const std::vector<double>& distances, int64_t n);

// Euclidean distances between the rows of points [n, dim] as a square [n, n] matrix.
std::vector<double> euclidean_distances(const std::vector<double>& points, int64_t n, int64_t dim);

// Cophenetic distances (the height at which two leaves first join), condensed as scipy's pdist:
// pairs (i, j), i < j, in row order.
std::vector<double> cophenetic_distances(const Dendrogram& dendrogram);

// Pearson correlation of two equally long vectors (NaN when either is constant).
double pearson_correlation(const std::vector<double>& a, const std::vector<double>& b);

// Pearson correlation between the cophenetic distances of two dendrograms over the same leaves.
double cophenetic_correlation(const Dendrogram& a, const Dendrogram& b);

}  // namespace genzoo
