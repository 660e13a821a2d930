// Portable, explicitly specified random number generation. The plan must be a pure function of the
// job file on every machine, so genzoo never relies on std:: distributions (implementation-defined).
#pragma once

#include <cstdint>
#include <vector>

namespace genzoo {

// SplitMix64 step: derives independent seeds from (seed, stream) pairs.
uint64_t mix_seed(uint64_t seed, uint64_t stream);

// xoshiro256** with portable distributions.
class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t next_u64();
  double uniform();                       // [0, 1)
  int64_t uniform_int(int64_t n);          // [0, n), unbiased
  double normal();                         // N(0, 1), Box-Muller
  double gamma(double shape);              // Gamma(shape, 1), Marsaglia-Tsang
  std::vector<double> dirichlet(double alpha, int k);
  // Counts of n draws from a categorical distribution with probabilities p.
  std::vector<int64_t> multinomial(int64_t n, const std::vector<double>& p);
  // k distinct elements of [0, n) in random order (partial Fisher-Yates over an index vector).
  std::vector<int64_t> sample_without_replacement(int64_t n, int64_t k);
  template <class T>
  void shuffle(std::vector<T>& v) {
    for (int64_t i = static_cast<int64_t>(v.size()) - 1; i > 0; --i) {
      int64_t j = uniform_int(i + 1);
      std::swap(v[i], v[j]);
    }
  }

 private:
  uint64_t s_[4];
  bool has_spare_normal_ = false;
  double spare_normal_ = 0.0;
};

}  // namespace genzoo
