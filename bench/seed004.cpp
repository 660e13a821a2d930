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
//
// The same three priors on Fashion-MNIST (thesis, ch. 3): a teacher [784, 800, 50, 10] fitted by VI under
// N(0, I), aligned to a student [784, 50, 10]; softmax likelihood; test log-likelihood and accuracy.
//
// Hinton distillation (Grabovoy & Strijov, AiT 2022): Fashion-MNIST, a logistic-regression student
// (7,850 parameters) trained with Adam (batch 64) for E epochs, R restarts, with and without the teacher:
//   L = (1 - λ) CE(y, g(x)) + λ CE(softmax(f(x) / T), softmax(g(x) / T)),  T = 2, λ = 0.25
// (the seed's loss, no T² factor); the teacher f is the zoo's feature net (a small CNN on the full
// training split). Printed: test cross-entropy and accuracy, mean ± sd over the restarts.
//
//   cmake --build build --target genzoo_bench_seed004
//   build/genzoo_bench_seed004 regression [SEEDS [TEACHER_EPOCHS STUDENT_EPOCHS]]
//   build/genzoo_bench_seed004 fashion [SEEDS [TEACHER_EPOCHS [POINTS [STEPS_PER_POINT]]]]
//   build/genzoo_bench_seed004 hinton RUN/zoo.h5 [RESTARTS [EPOCHS]]
#include <algorithm>
#include <cmath>
#include <numeric>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/rng.h"
#include "data/dataset.h"
#include "data/feature_net.h"
#include "distill/layered_students.h"
#include "store/zoo.h"
#include "train/data_stream.h"
#include "models/torch_family.h"
#include "priors/alignment.h"

using namespace genzoo;

namespace {

constexpr int64_t kDim = 10, kTrain = 900, kTest = 124, kBatch = 64;
constexpr double kNoise = 0.1;
constexpr auto kGaussian = distill::LayeredLikelihood::kGaussian;

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

int regression(int seeds, int64_t teacher_epochs, int64_t student_epochs) {
  const priors::LayeredNetwork teacher{{kDim, 100, 50, 1}, false, "relu"};
  const std::vector<priors::LayeredNetwork> students = {{{kDim, 50, 1}, false, "relu"}, {{kDim, 10, 10, 1}, false, "relu"}};
  const std::vector<std::string> names = {"student", "distil-student", "distil-student-all"};
  // [structure][prior] -> per seed
  std::vector<std::vector<std::vector<double>>> final_ll(2, std::vector<std::vector<double>>(3)), area = final_ll;
  std::vector<double> teacher_ll;
  std::vector<std::string> sequences(2);
  for (int seed = 0; seed < seeds; ++seed) {
    const distill::LayeredData data = distill::synthetic_regression(kDim, kTrain, kTest, kNoise, 1000 + seed);
    const int64_t p = layout_size(priors::layered_layout(teacher));
    const priors::LowRankGaussian unit = standard_normal(p);
    distill::StudentWeightsSpec spec{random_start(teacher, 2000 + seed), {}, true, &unit, kTrain, 1e-3, 1e-2};
    const auto fitted =
        distill::fit_layered(teacher, {spec}, data, kGaussian, kNoise, teacher_epochs, kBatch, {3000u + seed}).front();
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
      const auto fits =
          distill::fit_layered(students[s], specs, data, kGaussian, kNoise, student_epochs, kBatch, {stream, stream, stream});
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

namespace {

// Fashion-MNIST as a LayeredData set: pixels [N, 784], labels [N] (long).
distill::LayeredData fashion_mnist_layered(const Dataset& data) {
  const auto part = [](const ImageSet& set, torch::Tensor& x, torch::Tensor& y) {
    const int64_t n = set.size();
    x = torch::from_blob(const_cast<float*>(set.pixels.data()), {n, set.dim()}).clone();
    std::vector<int64_t> labels(set.labels.begin(), set.labels.end());
    y = torch::tensor(labels, torch::kLong);
  };
  distill::LayeredData out;
  part(data.train, out.x_train, out.y_train);
  part(data.test, out.x_test, out.y_test);
  return out;
}

std::string widths_text(const priors::LayeredNetwork& net) {
  std::string text = "[";
  for (size_t i = 0; i < net.widths.size(); ++i) text += (i ? ", " : "") + std::to_string(net.widths[i]);
  return text + "]";
}

// The thesis's Fashion-MNIST case: a bias-free ReLU teacher [784, 800, 50, 10] fitted by VI under
// N(0, I) on the training split (one teacher), its mean-field posterior aligned to [784, 50, 10]
// (φ: 750 units of layer 2 in density-ratio order, then ψ removes the square layer), and the student
// fitted by VI from one random start per seed under the three priors, with the same minibatches for
// the three. A curve point every `steps_per_point` steps; the integral is the area between a method's
// and the plain student's test log-likelihood curves, summed over the 10,000 test images.
int fashion(int seeds, int64_t teacher_epochs, int64_t points, int64_t steps_per_point) {
  const Dataset dataset = load_fashion_mnist(resolve_data_dir(""));
  const distill::LayeredData data = fashion_mnist_layered(dataset);
  const double n = static_cast<double>(data.x_train.size(0));
  const int64_t tests = data.x_test.size(0);
  constexpr auto kSoftmax = distill::LayeredLikelihood::kSoftmax;
  const priors::LayeredNetwork teacher{{784, 800, 50, 10}, false, "relu"}, student{{784, 50, 10}, false, "relu"};
  const int64_t p = layout_size(priors::layered_layout(teacher));
  const priors::LowRankGaussian unit = standard_normal(p);
  const distill::StudentWeightsSpec teacher_spec{random_start(teacher, 2000), {}, true, &unit, n, 1e-3, 1e-2};
  const auto fitted = distill::fit_layered(teacher, {teacher_spec}, data, kSoftmax, 0.0, teacher_epochs, kBatch, {3000u}).front();
  std::fprintf(stderr, "teacher: test log-likelihood %.4f, accuracy %.4f\n", fitted.test_log_likelihood.back(),
               fitted.test_accuracy.back());
  priors::LowRankGaussian posterior;  // mean-field: D = σ², rank 0
  posterior.mean.assign(fitted.mean.begin(), fitted.mean.end());
  for (float s : fitted.std) posterior.diag.push_back(static_cast<double>(s) * s);
  const priors::AlignedPrior aligned = priors::align_layered(posterior, teacher, student, "density_ratio", 4000);
  const int64_t q = aligned.gaussian.size();
  const priors::LowRankGaussian plain = standard_normal(q), centred = standard_normal(q, aligned.gaussian.mean);
  // Every seed's three students in one batch: [seed][prior].
  std::vector<distill::StudentWeightsSpec> specs;
  std::vector<uint64_t> streams;
  for (int seed = 0; seed < seeds; ++seed) {
    const std::vector<float> start = random_start(student, 5000 + seed);
    for (const priors::LowRankGaussian* prior : {&plain, &centred, &aligned.gaussian}) {
      specs.push_back({start, {}, true, prior, n, 1e-3, 1e-2});
      streams.push_back(6000u + seed);
    }
  }
  const auto fits = distill::fit_layered(student, specs, data, kSoftmax, 0.0, points, kBatch, streams, steps_per_point);
  const std::vector<std::string> names = {"student", "distil-student", "distil-student-all"};
  std::vector<std::vector<double>> final_ll(3), accuracy(3), area(3), first_ll(3);
  for (int seed = 0; seed < seeds; ++seed) {
    const distill::LayeredFit& reference = fits[seed * 3];
    for (int k = 0; k < 3; ++k) {
      const distill::LayeredFit& fit = fits[seed * 3 + k];
      final_ll[k].push_back(fit.test_log_likelihood.back());
      first_ll[k].push_back(fit.test_log_likelihood.front());
      accuracy[k].push_back(fit.test_accuracy.back());
      double sum = 0.0;
      for (size_t e = 0; e < fit.test_log_likelihood.size(); ++e) {
        sum += (fit.test_log_likelihood[e] - reference.test_log_likelihood[e]) * static_cast<double>(tests);
      }
      area[k].push_back(sum);
    }
  }
  std::printf("teacher %s, VI under N(0, I), %lld epochs: test log-likelihood %.4f nats/image, accuracy %.4f\n",
              widths_text(teacher).c_str(), static_cast<long long>(teacher_epochs), fitted.test_log_likelihood.back(),
              fitted.test_accuracy.back());
  std::printf("student %s: VI, Adam 1e-3 (log sigma 1e-2), batch %lld, %lld points x %lld steps, %d seeds; alignment: "
              "%zu steps, last %s\n",
              widths_text(student).c_str(), static_cast<long long>(kBatch), static_cast<long long>(points),
              static_cast<long long>(steps_per_point), seeds, aligned.steps.size(), aligned.steps.back().c_str());
  std::printf("%-20s %24s %24s %18s %26s\n", "prior", "first-point test log-lik", "final test log-lik", "final accuracy",
              "integral vs student");
  for (int k = 0; k < 3; ++k) {
    const auto [f, fsd] = mean_sd(first_ll[k]);
    const auto [m, sd] = mean_sd(final_ll[k]);
    const auto [a, asd] = mean_sd(accuracy[k]);
    const auto [i, isd] = mean_sd(area[k]);
    std::printf("%-20s %14.4f ± %6.4f %14.4f ± %6.4f %10.4f ± %5.4f %16.0f ± %6.0f\n", names[k].c_str(), f, fsd, m, sd, a,
                asd, i, isd);
  }
  return 0;
}

int hinton(const std::string& zoo_path, int restarts, int64_t epochs) {
  constexpr int64_t kClasses = 10, kPixels = 784, kBatchSize = 64;
  constexpr double kTemperature = 2.0, kLambda = 0.25;
  const ZooData zoo = read_zoo(zoo_path);
  if (!zoo.featurenet) {
    std::fprintf(stderr, "%s has no feature net (a job with explicit data.classes trains none)\n", zoo_path.c_str());
    return 1;
  }
  const Dataset data = load_fashion_mnist(resolve_data_dir(""));
  const int64_t n = data.train.size();
  // The teacher's softened outputs softmax(f(x) / T) on every training image.
  std::vector<float> soft(n * kClasses);
  for (int64_t begin = 0; begin < n; begin += 1000) {
    const int64_t count = std::min<int64_t>(1000, n - begin);
    const auto logits = torch::from_blob(feature_net_logits(*zoo.featurenet, data.train.image(begin), count).data(), {count, kClasses});
    const auto p = torch::softmax(logits / kTemperature, 1).contiguous();
    std::copy_n(p.data_ptr<float>(), count * kClasses, soft.data() + begin * kClasses);
  }
  Layout layout;
  add_param(layout, "weight", "classifier", {kClasses, kPixels});
  add_param(layout, "bias", "classifier", {kClasses});
  const int64_t p = layout_size(layout), models = 2 * restarts;  // [0, R): without the teacher, [R, 2R): with
  std::vector<distill::StudentWeightsSpec> specs;
  std::vector<SampleStream> streams;
  std::vector<torch::Generator> generators;
  for (int64_t m = 0; m < models; ++m) {
    std::vector<float> start(p);
    init_flat_params(start.data(), layout, 7000 + m % restarts);  // a pair shares its start and its batches
    specs.push_back({start, {}, false, nullptr, static_cast<double>(n), 1e-3, 1e-2});
    std::vector<int64_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    streams.emplace_back(std::move(order), 8000 + m % restarts);
    generators.push_back(noise_generator(m));
  }
  distill::StudentWeights weights(specs, torch::kCPU);
  const auto with_teacher = torch::cat({torch::zeros({restarts}), torch::ones({restarts})});
  std::vector<int64_t> batch(kBatchSize);
  const int64_t steps = epochs * ((n + kBatchSize - 1) / kBatchSize);
  for (int64_t step = 0; step < steps; ++step) {
    auto x = torch::empty({models, kBatchSize, kPixels});
    auto y = torch::zeros({models, kBatchSize, kClasses}), s = torch::empty({models, kBatchSize, kClasses});
    for (int64_t m = 0; m < models; ++m) {
      streams[m].next_batch(kBatchSize, batch.data());
      gather_images(data.train, batch.data(), kBatchSize, x[m].data_ptr<float>());
      float* ym = y[m].data_ptr<float>();
      float* sm = s[m].data_ptr<float>();
      for (int64_t b = 0; b < kBatchSize; ++b) {
        ym[b * kClasses + data.train.labels[batch[b]]] = 1.0f;
        std::copy_n(soft.data() + batch[b] * kClasses, kClasses, sm + b * kClasses);
      }
    }
    const auto params = view_params(weights.draw(generators), layout);
    const auto logits = torch::baddbmm(params.at("bias").unsqueeze(1), x, params.at("weight").transpose(1, 2));
    const auto hard = -(y * torch::log_softmax(logits, 2)).sum(2).mean(1);
    const auto distilled = -(s * torch::log_softmax(logits / kTemperature, 2)).sum(2).mean(1);
    weights.step(hard + with_teacher * kLambda * (distilled - hard));
  }
  // Test cross-entropy (T = 1) and accuracy of every student.
  torch::NoGradGuard no_grad;
  const int64_t t = data.test.size();
  const auto x = torch::from_blob(const_cast<float*>(data.test.pixels.data()), {t, kPixels});
  std::vector<int64_t> labels(data.test.labels.begin(), data.test.labels.end());
  const auto target = torch::tensor(labels, torch::kLong);
  const auto params = view_params(weights.mean(), layout);
  std::vector<std::vector<double>> ce(2), accuracy(2);
  for (int64_t m = 0; m < models; ++m) {
    const auto logits = x.mm(params.at("weight")[m].t()) + params.at("bias")[m];
    ce[m / restarts].push_back(torch::nll_loss(torch::log_softmax(logits, 1), target).item<double>());
    accuracy[m / restarts].push_back(logits.argmax(1).eq(target).to(torch::kDouble).mean().item<double>());
  }
  std::printf("Hinton distillation, Fashion-MNIST, logistic-regression student (%lld parameters), Adam 1e-3, batch 64, "
              "%lld epochs, %d restarts, T = 2, lambda = 0.25; teacher: the zoo's feature net (test accuracy %.3f)\n",
              static_cast<long long>(p), static_cast<long long>(epochs), restarts, zoo.featurenet->test_accuracy);
  const char* names[] = {"without teacher", "with teacher"};
  const char* paper[] = {"0.461 ± 0.005 / 0.841 ± 0.002", "0.453 ± 0.003 / 0.842 ± 0.002"};
  std::printf("%-16s %26s %24s   %s\n", "student", "test cross-entropy", "test accuracy", "paper (CE / accuracy)");
  for (int k = 0; k < 2; ++k) {
    const auto [c, csd] = mean_sd(ce[k]);
    const auto [a, asd] = mean_sd(accuracy[k]);
    std::printf("%-16s %18.4f ± %6.4f %16.4f ± %6.4f   %s\n", names[k], c, csd, a, asd, paper[k]);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  torch::set_num_threads(1);
  const std::string experiment = argc > 1 ? argv[1] : "";
  if (experiment == "regression") {
    return regression(argc > 2 ? std::atoi(argv[2]) : 5, argc > 3 ? std::atoll(argv[3]) : 300, argc > 4 ? std::atoll(argv[4]) : 100);
  }
  if (experiment == "fashion") {
    return fashion(argc > 2 ? std::atoi(argv[2]) : 5, argc > 3 ? std::atoll(argv[3]) : 10,
                   argc > 4 ? std::atoll(argv[4]) : 20, argc > 5 ? std::atoll(argv[5]) : 200);
  }
  if (experiment == "hinton" && argc > 2) {
    return hinton(argv[2], argc > 3 ? std::atoi(argv[3]) : 5, argc > 4 ? std::atoll(argv[4]) : 100);
  }
  std::fprintf(stderr,
               "usage: %s regression [SEEDS [TEACHER_EPOCHS STUDENT_EPOCHS]]\n"
               "       %s fashion [SEEDS [TEACHER_EPOCHS [POINTS [STEPS_PER_POINT]]]]\n"
               "       %s hinton RUN/zoo.h5 [RESTARTS [EPOCHS]]\n",
               argv[0], argv[0], argv[0]);
  return 2;
}
