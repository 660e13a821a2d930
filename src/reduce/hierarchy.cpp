#include "reduce/hierarchy.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "common/error.h"

namespace genzoo {

Dendrogram average_linkage(const std::vector<double>& distances, int64_t n) {
  if (n < 2) throw ReduceError("a dendrogram needs at least 2 models, got " + std::to_string(n));
  if (static_cast<int64_t>(distances.size()) != n * n) {
    throw ReduceError("average linkage: " + std::to_string(distances.size()) + " distances for " +
                      std::to_string(n) + " points (expected an [n, n] matrix)");
  }
  // Active clusters: their scipy id, size, members; distances between active slots (slot = leaf index
  // of the cluster's first slot, reused when two merge). O(n^3), fine for the zoo sizes reduce sees.
  std::vector<double> d = distances;
  std::vector<int64_t> id(n), size(n, 1);
  std::vector<std::vector<int64_t>> members(n);
  std::vector<bool> active(n, true);
  for (int64_t i = 0; i < n; ++i) {
    id[i] = i;
    members[i] = {i};
  }
  Dendrogram dendrogram;
  dendrogram.leaves = n;
  for (int64_t step = 0; step < n - 1; ++step) {
    int64_t best_a = -1, best_b = -1;
    double best = std::numeric_limits<double>::infinity();
    for (int64_t a = 0; a < n; ++a) {
      if (!active[a]) continue;
      for (int64_t b = a + 1; b < n; ++b) {
        if (!active[b]) continue;
        const double value = d[a * n + b];
        if (best_a < 0 || value < best) {
          best = value;
          best_a = a;
          best_b = b;
        }
      }
    }
    // scipy's average linkage can produce tiny non-monotone steps from rounding; keep heights monotone.
    const double height = dendrogram.linkage.empty() ? best : std::max(best, dendrogram.linkage[(step - 1) * 4 + 2]);
    const auto [low, high] = std::minmax(id[best_a], id[best_b]);
    dendrogram.linkage.insert(dendrogram.linkage.end(),
                              {double(low), double(high), height, double(size[best_a] + size[best_b])});
    // Lance-Williams update for average linkage: d(a+b, c) = (|a| d(a, c) + |b| d(b, c)) / (|a| + |b|).
    for (int64_t c = 0; c < n; ++c) {
      if (!active[c] || c == best_a || c == best_b) continue;
      const double merged = (size[best_a] * d[best_a * n + c] + size[best_b] * d[best_b * n + c]) /
                            double(size[best_a] + size[best_b]);
      d[best_a * n + c] = d[c * n + best_a] = merged;
    }
    members[best_a].insert(members[best_a].end(), members[best_b].begin(), members[best_b].end());
    std::sort(members[best_a].begin(), members[best_a].end());
    dendrogram.members.push_back(members[best_a]);
    size[best_a] += size[best_b];
    id[best_a] = n + step;
    active[best_b] = false;
  }
  return dendrogram;
}

std::vector<double> euclidean_distances(const std::vector<double>& points, int64_t n, int64_t dim) {
  std::vector<double> d(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = i + 1; j < n; ++j) {
      double sum = 0.0;
      for (int64_t k = 0; k < dim; ++k) sum += (points[i * dim + k] - points[j * dim + k]) * (points[i * dim + k] - points[j * dim + k]);
      d[i * n + j] = d[j * n + i] = std::sqrt(sum);
    }
  }
  return d;
}

std::vector<double> cophenetic_distances(const Dendrogram& dendrogram) {
  const int64_t n = dendrogram.leaves;
  std::vector<double> square(static_cast<size_t>(n * n), 0.0);
  // Cluster members by id (leaves and merged rows); a merge sets the distance of every cross pair.
  std::vector<std::vector<int64_t>> clusters(static_cast<size_t>(2 * n - 1));
  for (int64_t i = 0; i < n; ++i) clusters[i] = {i};
  for (int64_t row = 0; row + 1 < n; ++row) {
    const auto a = static_cast<int64_t>(dendrogram.linkage[row * 4]), b = static_cast<int64_t>(dendrogram.linkage[row * 4 + 1]);
    const double height = dendrogram.linkage[row * 4 + 2];
    for (int64_t i : clusters[a]) {
      for (int64_t j : clusters[b]) square[i * n + j] = square[j * n + i] = height;
    }
    clusters[n + row] = clusters[a];
    clusters[n + row].insert(clusters[n + row].end(), clusters[b].begin(), clusters[b].end());
  }
  std::vector<double> condensed;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = i + 1; j < n; ++j) condensed.push_back(square[i * n + j]);
  }
  return condensed;
}

double pearson_correlation(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size() || a.empty()) throw ReduceError("pearson correlation of vectors of different or zero length");
  const double n = static_cast<double>(a.size());
  double mean_a = 0.0, mean_b = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    mean_a += a[i] / n;
    mean_b += b[i] / n;
  }
  double cov = 0.0, var_a = 0.0, var_b = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    cov += (a[i] - mean_a) * (b[i] - mean_b);
    var_a += (a[i] - mean_a) * (a[i] - mean_a);
    var_b += (b[i] - mean_b) * (b[i] - mean_b);
  }
  if (var_a <= 0.0 || var_b <= 0.0) return std::nan("");
  return cov / std::sqrt(var_a * var_b);
}

double cophenetic_correlation(const Dendrogram& a, const Dendrogram& b) {
  if (a.leaves != b.leaves) throw ReduceError("cophenetic correlation of dendrograms with different leaf counts");
  return pearson_correlation(cophenetic_distances(a), cophenetic_distances(b));
}

}  // namespace genzoo
