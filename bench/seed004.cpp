// Seed 004's Bayesian distillation on the thesis's synthetic regression (Grabovoy 2022, ch. 3): x, w ~ N(0, 1),
// d = 10, 900 training and 124 test samples, y = xᵀw + 0.1 ε. A bias-free ReLU teacher [10, 100, 50, 1] is
// fitted by variational inference under N(0, I); its mean-field posterior is aligned to two students,
// [10, 50, 1] (φ down to 50 units in layer 2, then ψ removes the square layer) and [10, 10, 10, 1] (φ only),
// and each student is fitted by VI under three priors:
//   student             N(0, I)                         (no teacher)
//   distil-student      N(aligned mean, I)
//   distil-student-all  N(aligned mean, aligned covariance)
// all from the same random start. Printed per structure and prior over the seeds: the final test
// log-likelihood (nats per test sample at q's mean) and the thesis's integral metric, the area between
// the method's and the plain student's test log-likelihood curves (summed over the 124 test samples and
// the epochs), mean ± sd.
//   cmake --build build --target genzoo_bench_seed004 && build/genzoo_bench_seed004 [SEEDS [TEACHER_EPOCHS STUDENT_EPOCHS]]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/rng.h"
#include "distill/layered_students.h"
#include "models/torch_family.h"
#include "priors/alignment.h"

using namespace genzoo;

namespace {

constexpr int64_t kDim = 10, kTrain = 900, kTest = 124, kBatch = 64;
constexpr double kNoise = 0.1;

std::pair<double, double> mean_sd(const std::vector<double>& v) {
  double mean = 0.0, sq = 0.0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  for (double x : v) sq += (x - mean) * (x - mean);
  return {mean, v.size() > 1 ? std::sqrt(sq / static_cast<double>(v.size() - 1)) : 0.0};
}

priors::LowRankGaussian standard_normal(int64_t p, const std::vector<double>& mean = {}) {
  priors::LowRankGaussian g;
  g.mean = mean.empty() ? std::vector<double>(p, 0.0) : mean;
  g.diag.assign(p, 1.0);
  return g;
}

std::vector<float> random_start(const priors::LayeredNetwork& net, uint64_t seed) {
  const Layout layout = priors::layered_layout(net);
  std::vector<float> w(layout_size(layout));
  init_flat_params(w.data(), layout, seed);
  return w;
}

}  // namespace

int main(int argc, char** argv) {
  const int seeds = argc > 1 ? std::atoi(argv[1]) : 5;
  const int64_t teacher_epochs = argc > 2 ? std::atoll(argv[2]) : 300, student_epochs = argc > 3 ? std::atoll(argv[3]) : 100;
  torch::set_num_threads(1);
  const priors::LayeredNetwork teacher{{kDim, 100, 50, 1}, false, "relu"};
  const std::vector<priors::LayeredNetwork> students = {{{kDim, 50, 1}, false, "relu"}, {{kDim, 10, 10, 1}, false, "relu"}};
  const std::vector<std::string> names = {"student", "distil-student", "distil-student-all"};
  // [structure][prior] -> per seed
  std::vector<std::vector<std::vector<double>>> final_ll(2, std::vector<std::vector<double>>(3)), area = final_ll;
  std::vector<double> teacher_ll;
  std::vector<std::string> sequences(2);
  for (int seed = 0; seed < seeds; ++seed) {
    const distill::RegressionData data = distill::synthetic_regression(kDim, kTrain, kTest, kNoise, 1000 + seed);
    const int64_t p = layout_size(priors::layered_layout(teacher));
    const priors::LowRankGaussian unit = standard_normal(p);
    distill::StudentWeightsSpec spec{random_start(teacher, 2000 + seed), {}, true, &unit, kTrain, 1e-3, 1e-2};
    const auto fitted = distill::fit_regression(teacher, {spec}, data, kNoise, teacher_epochs, kBatch, {3000u + seed}).front();
    teacher_ll.push_back(fitted.test_log_likelihood.back());
    priors::LowRankGaussian posterior;  // mean-field: D = σ², rank 0
    posterior.mean.assign(fitted.mean.begin(), fitted.mean.end());
    for (float s : fitted.std) posterior.diag.push_back(static_cast<double>(s) * s);
    for (size_t s = 0; s < students.size(); ++s) {
      const priors::AlignedPrior aligned = priors::align_layered(posterior, teacher, students[s], "density_ratio", 4000 + seed);
      sequences[s] = std::to_string(aligned.steps.size()) + " steps, last " + aligned.steps.back();
      const int64_t q = aligned.gaussian.size();
      const priors::LowRankGaussian plain = standard_normal(q), centred = standard_normal(q, aligned.gaussian.mean);
      const std::vector<float> start = random_start(students[s], 5000 + seed);
      std::vector<distill::StudentWeightsSpec> specs;
      for (const priors::LowRankGaussian* prior : {&plain, &centred, &aligned.gaussian}) {
        specs.push_back({start, {}, true, prior, kTrain, 1e-3, 1e-2});
      }
      const uint64_t stream = 6000u + seed;  // the same minibatches for the three priors
      const auto fits = distill::fit_regression(students[s], specs, data, kNoise, student_epochs, kBatch, {stream, stream, stream});
      for (size_t k = 0; k < fits.size(); ++k) {
        final_ll[s][k].push_back(fits[k].test_log_likelihood.back());
        double sum = 0.0;
        for (size_t e = 0; e < fits[k].test_log_likelihood.size(); ++e) {
          sum += (fits[k].test_log_likelihood[e] - fits[0].test_log_likelihood[e]) * static_cast<double>(kTest);
        }
        area[s][k].push_back(sum);
      }
    }
    std::fprintf(stderr, "seed %d done\n", seed);
  }
  const auto [t_mean, t_sd] = mean_sd(teacher_ll);
  std::printf("teacher [10, 100, 50, 1], VI under N(0, I), %lld epochs: test log-likelihood %.3f ± %.3f nats/sample\n",
              static_cast<long long>(teacher_epochs), t_mean, t_sd);
  std::printf("students: VI, %lld epochs, batch %lld, Adam 1e-3 (log sigma 1e-2), %d seeds\n",
              static_cast<long long>(student_epochs), static_cast<long long>(kBatch), seeds);
  std::printf("%-16s %-20s %28s %26s\n", "structure", "prior", "final test log-lik (nats)", "integral vs student");
  for (size_t s = 0; s < students.size(); ++s) {
    std::string structure = "[";
    for (size_t i = 0; i < students[s].widths.size(); ++i) structure += (i ? ", " : "") + std::to_string(students[s].widths[i]);
    structure += "]";
    for (size_t k = 0; k < 3; ++k) {
      const auto [m, sd] = mean_sd(final_ll[s][k]);
      const auto [a, asd] = mean_sd(area[s][k]);
      std::printf("%-16s %-20s %18.3f ± %6.3f %16.0f ± %6.0f\n", structure.c_str(), names[k].c_str(), m, sd, a, asd);
    }
    std::printf("  alignment: %s\n", sequences[s].c_str());
  }
  return 0;
}
