// Tests for src/distill/layered_students.cpp: the batched MLP forward pass against a plain one, and
// seed 004's alignment read as functions: ψ of a layer that is the identity and φ of a unit that sends
// nothing leave the network's function unchanged (ReLU is idempotent), and VI on the synthetic
// regression learns it.
#include "distill/layered_students.h"

#include <gtest/gtest.h>

#include <vector>

#include "common/error.h"
#include "common/rng.h"
#include "models/torch_family.h"

namespace genzoo::test {
namespace {

using priors::LayeredNetwork;

std::vector<double> random_weights(int64_t p, uint64_t seed) {
  Rng rng(seed);
  std::vector<double> w(p);
  for (double& v : w) v = 0.5 * rng.normal();
  return w;
}

torch::Tensor as_row(const std::vector<double>& w) {
  return torch::tensor(std::vector<float>(w.begin(), w.end())).unsqueeze(0);
}

TEST(LayeredStudents, ForwardIsTheMlpLayerByLayer) {
  const LayeredNetwork net{{4, 5, 3, 2}, true, "relu"};
  const Layout layout = priors::layered_layout(net);
  const auto w = as_row(random_weights(layout_size(layout), 1));
  const auto x = torch::randn({1, 6, 4});
  const auto p = view_params(w, layout);
  auto h = torch::relu(x[0].mm(p.at("layer2.weight")[0].t()) + p.at("layer2.bias")[0]);
  h = torch::relu(h.mm(p.at("layer3.weight")[0].t()) + p.at("layer3.bias")[0]);
  h = h.mm(p.at("layer4.weight")[0].t()) + p.at("layer4.bias")[0];
  EXPECT_TRUE(torch::allclose(distill::layered_forward(w, net, x)[0], h, 1e-5, 1e-6));
}

TEST(LayeredStudents, AligningAnIdentityLayerAndASilentUnitKeepsTheFunction) {
  const LayeredNetwork teacher{{3, 4, 4, 2}, false, "relu"}, student{{3, 3, 2}, false, "relu"};
  const Layout layout = priors::layered_layout(teacher);
  priors::LowRankGaussian g;
  g.mean = random_weights(layout_size(layout), 2);
  g.diag.assign(g.mean.size(), 1e-2);
  // Unit 3 of layer 2 sends nothing on (column 3 of U_3 is 0) and U_3 restricted to the other units is
  // the identity: removing the unit (φ) and then the square layer (ψ) changes nothing the network computes.
  const ParamLayout& u3 = layout[1];
  for (int64_t r = 0; r < 4; ++r)
    for (int64_t c = 0; c < 4; ++c) g.mean[u3.offset + r * 4 + c] = (r == c && c < 3) ? 1.0 : 0.0;
  // With the silent unit and U_3 = diag(1, 1, 1, 0), unit 3 of layer 3 is silent too: zero its outgoing weights.
  const ParamLayout& u4 = layout[2];
  for (int64_t r = 0; r < 2; ++r) g.mean[u4.offset + r * 4 + 3] = 0.0;
  const priors::AlignedPrior aligned = priors::align_layered(g, teacher, student, "last", 1);
  ASSERT_EQ(aligned.steps.back(), "psi(3)");
  const auto x = torch::randn({1, 16, 3});
  const auto before = distill::layered_forward(as_row(g.mean), teacher, x);
  const auto after = distill::layered_forward(as_row(aligned.gaussian.mean), student, x);
  EXPECT_TRUE(torch::allclose(before, after, 1e-5, 1e-5)) << before << after;
}

TEST(LayeredStudents, VariationalFitLearnsTheSyntheticRegression) {
  const LayeredNetwork net{{10, 20, 1}, false, "relu"};
  const auto data = distill::synthetic_regression(10, 300, 100, 0.1, 3);
  const Layout layout = priors::layered_layout(net);
  priors::LowRankGaussian prior;
  prior.mean.assign(layout_size(layout), 0.0);
  prior.diag.assign(layout_size(layout), 1.0);
  std::vector<float> start(layout_size(layout));
  init_flat_params(start.data(), layout, 4);
  const auto fit = distill::fit_layered(net, {{start, {}, true, &prior, 300.0, 3e-3, 1e-2}}, data,
                                        distill::LayeredLikelihood::kGaussian, 0.1, 60, 32, {5})
                       .front();
  // y has variance ~10 (|w|² for d = 10): predicting 0 gives a log-likelihood near -500 nats per sample.
  EXPECT_GT(fit.test_log_likelihood.back(), fit.test_log_likelihood.front());
  EXPECT_GT(fit.test_log_likelihood.back(), -50.0);
  ASSERT_EQ(fit.std.size(), start.size());
}

// The softmax likelihood on a linear classifier [4, 3] with labels argmax(W x): MAP learns it, and the
// reported test log-likelihood and accuracy are those of q's mean, recomputed here by brute force.
TEST(LayeredStudents, SoftmaxFitLearnsALinearClassifierAndReportsItsTestLikelihood) {
  const LayeredNetwork net{{4, 3}, false, "relu"};
  torch::manual_seed(11);
  const auto truth = torch::randn({3, 4}, torch::TensorOptions().dtype(torch::kFloat));
  distill::LayeredData data;
  data.x_train = torch::randn({400, 4});
  data.x_test = torch::randn({200, 4});
  data.y_train = data.x_train.mm(truth.t()).argmax(1);
  data.y_test = data.x_test.mm(truth.t()).argmax(1);
  const Layout layout = priors::layered_layout(net);
  std::vector<float> start(layout_size(layout));
  init_flat_params(start.data(), layout, 4);
  const auto fit = distill::fit_layered(net, {{start, {}, false, nullptr, 400.0, 1e-2, 1e-2}}, data,
                                        distill::LayeredLikelihood::kSoftmax, 0.0, 40, 32, {5})
                       .front();
  ASSERT_EQ(fit.test_accuracy.size(), 40u);
  EXPECT_GT(fit.test_accuracy.back(), 0.9);
  EXPECT_GT(fit.test_log_likelihood.back(), fit.test_log_likelihood.front());
  // Brute force at the returned mean: layer2.weight [3, 4].
  const auto w = torch::from_blob(const_cast<float*>(fit.mean.data()), {3, 4});
  double log_likelihood = 0.0, correct = 0.0;
  for (int64_t i = 0; i < 200; ++i) {
    const auto logits = w.mv(data.x_test[i]);
    const int64_t label = data.y_test[i].item<int64_t>();
    log_likelihood += torch::log_softmax(logits, 0)[label].item<double>();
    correct += logits.argmax().item<int64_t>() == label;
  }
  EXPECT_NEAR(fit.test_log_likelihood.back(), log_likelihood / 200.0, 1e-5);
  EXPECT_DOUBLE_EQ(fit.test_accuracy.back(), correct / 200.0);
  // Float targets under the softmax likelihood are a usage error.
  data.y_train = data.y_train.to(torch::kFloat);
  EXPECT_THROW(distill::fit_layered(net, {{start, {}, false, nullptr, 400.0, 1e-2, 1e-2}}, data,
                                    distill::LayeredLikelihood::kSoftmax, 0.0, 1, 32, {5}),
               DistillError);
}

}  // namespace
}  // namespace genzoo::test
