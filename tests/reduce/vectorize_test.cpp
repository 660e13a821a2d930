// Tests for src/reduce/vectorize.{h,cpp} and src/reduce/vectorizations.cpp: every registered
// vectorization against a direct computation on a few random models (float32 weights; tolerances are
// float32 rounding of values of order 1).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "common/rng.h"
#include "data/image.h"
#include "job/job.h"
#include "models/family.h"
#include "models/latent_density.h"
#include "models/linear_ae.h"
#include "models/torch_family.h"
#include "reduce/vectorize.h"
#include "store/zoo.h"

namespace genzoo {
namespace {

// conv_ae-like layout: a conv kernel, a bias, a linear map, a transposed-conv kernel.
Layout conv_layout() {
  Layout layout;
  add_param(layout, "encoder.conv1.weight", "encoder", {4, 1, 4, 4});
  add_param(layout, "encoder.conv1.bias", "encoder", {4});
  add_param(layout, "encoder.fc.weight", "encoder", {3, 20});
  add_param(layout, "decoder.convt1.weight", "decoder", {4, 2, 4, 4});
  return layout;
}

FamilyWeights random_weights(const std::string& family, const Layout& layout, int64_t models, double scale) {
  FamilyWeights w;
  w.family = family;
  w.layout = layout;
  Rng rng(11);
  for (int64_t m = 0; m < models; ++m) {
    w.model_ids.push_back(100 + m);
    for (int64_t i = 0; i < layout_size(layout); ++i) w.data.push_back(static_cast<float>(scale * rng.normal()));
  }
  return w;
}

std::vector<int64_t> all_rows(const FamilyWeights& w) {
  std::vector<int64_t> rows(w.model_ids.size());
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int64_t>(i);
  return rows;
}

// One parameter of one model as a tensor of its own shape.
torch::Tensor param_of(const FamilyWeights& w, int64_t row, const std::string& name) {
  const ParamLayout& p = find_param(w.layout, name);
  const float* begin = w.data.data() + row * w.param_count() + p.offset;
  return torch::from_blob(const_cast<float*>(begin), {p.numel()}, torch::kFloat32).clone().view(p.shape);
}

TEST(Vectorize, RegistryListsTheFiveAndRejectsUnknownNames) {
  const auto names = vectorization_names();
  for (const char* name : {"svd", "hist", "layer_stats", "latent_mean", "probe_error"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
  try {
    find_vectorization("pca");
    FAIL() << "no error";
  } catch (const ReduceError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown vectorization 'pca'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("svd"), std::string::npos) << e.what();
  }
}

TEST(Vectorize, SvdMatchesLinalgSvdvalsPerMatrixWithConvKernelsFlattened) {
  const FamilyWeights w = random_weights("conv_ae", conv_layout(), 3, 0.3);
  const FeatureMatrix f = vectorize(find_vectorization("svd"), w, all_rows(w), {});
  ASSERT_EQ(f.dim, 4 + 3 + 4);  // min(4, 16) + min(3, 20) + min(4, 32)
  EXPECT_EQ(f.model_ids, (std::vector<int64_t>{100, 101, 102}));
  for (int64_t m = 0; m < 3; ++m) {
    std::vector<float> expected;
    for (const char* name : {"encoder.conv1.weight", "encoder.fc.weight", "decoder.convt1.weight"}) {
      const auto t = param_of(w, m, name);
      const auto s = torch::linalg_svdvals(t.reshape({t.size(0), -1}).to(torch::kFloat64));
      for (int64_t i = 0; i < s.size(0); ++i) expected.push_back(static_cast<float>(s[i].item<double>()));
    }
    for (int64_t j = 0; j < f.dim; ++j) EXPECT_NEAR(f.row(m)[j], expected[j], 1e-5) << "model " << m << " value " << j;
  }
}

// A vae's fitted latent density (models/latent_density.h) is statistics of its codes, not a layer: the
// weight-matrix features (svd, hist, layer_stats) leave it out.
TEST(Vectorize, WeightMatricesLeaveOutTheFittedLatentDensity) {
  Layout layout;
  add_param(layout, "decoder.out.weight", "decoder", {784, 16});
  add_param(layout, "decoder.out.bias", "decoder", {784});
  add_latent_density(layout, 3, 4);
  const auto matrices = weight_matrices(layout);
  ASSERT_EQ(matrices.size(), 1u);
  EXPECT_EQ(matrices[0].param->name, "decoder.out.weight");
}

TEST(Vectorize, HistCountsEachMatrixOnFixedBins) {
  const FamilyWeights w = random_weights("conv_ae", conv_layout(), 2, 0.4);
  const FeatureMatrix f = vectorize(find_vectorization("hist"), w, all_rows(w), {});
  ASSERT_EQ(f.dim, 3 * kHistBins);
  const auto matrices = weight_matrices(w.layout);
  ASSERT_EQ(matrices.size(), 3u);
  for (int64_t m = 0; m < 2; ++m) {
    for (size_t k = 0; k < matrices.size(); ++k) {
      const double half = 3.0 / std::sqrt(static_cast<double>(matrices[k].cols));
      EXPECT_DOUBLE_EQ(hist_half_range(matrices[k]), half);
      std::vector<double> counts(kHistBins, 0.0);
      const auto values = param_of(w, m, matrices[k].param->name).flatten();
      for (int64_t i = 0; i < values.numel(); ++i) {
        const double v = values[i].item<float>();
        const int64_t bin = std::clamp<int64_t>(static_cast<int64_t>(std::floor((v + half) / (2 * half / kHistBins))), 0, kHistBins - 1);
        counts[bin] += 1.0 / static_cast<double>(values.numel());
      }
      double total = 0.0;
      for (int64_t b = 0; b < kHistBins; ++b) {
        EXPECT_NEAR(f.row(m)[k * kHistBins + b], counts[b], 1e-6) << "model " << m << " matrix " << k << " bin " << b;
        total += f.row(m)[k * kHistBins + b];
      }
      EXPECT_NEAR(total, 1.0, 1e-5);
    }
  }
}

TEST(Vectorize, LayerStatsAreMeanStdMinQuartilesMaxOfEveryParameter) {
  const FamilyWeights w = random_weights("conv_ae", conv_layout(), 2, 1.0);
  const FeatureMatrix f = vectorize(find_vectorization("layer_stats"), w, {1}, {});
  ASSERT_EQ(f.dim, 7 * 4);
  ASSERT_EQ(f.model_ids, std::vector<int64_t>{101});
  for (size_t p = 0; p < w.layout.size(); ++p) {
    const auto t = param_of(w, 1, w.layout[p].name).flatten().to(torch::kFloat64);
    std::vector<double> v(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
    std::sort(v.begin(), v.end());
    const auto quantile = [&](double q) {  // numpy's default (linear)
      const double pos = q * static_cast<double>(v.size() - 1);
      const size_t lo = static_cast<size_t>(pos);
      return v[lo] + (pos - static_cast<double>(lo)) * (v[std::min(lo + 1, v.size() - 1)] - v[lo]);
    };
    double mean = 0.0, var = 0.0;
    for (double x : v) mean += x / static_cast<double>(v.size());
    for (double x : v) var += (x - mean) * (x - mean) / static_cast<double>(v.size());
    const double expected[7] = {mean, std::sqrt(var), v.front(), quantile(0.25), quantile(0.5), quantile(0.75), v.back()};
    for (int s = 0; s < 7; ++s) EXPECT_NEAR(f.row(0)[p * 7 + s], expected[s], 1e-5) << w.layout[p].name << " stat " << s;
  }
}

// Random probe images in [0, 1], labelled 0, 1, 2, 0, 1, ... (three classes).
VectorizeContext random_probe_images(int64_t count) {
  VectorizeContext context;
  Rng rng(3);
  context.probe_count = count;
  context.probe_classes = 3;
  for (int64_t i = 0; i < count * kImagePixels; ++i) context.probe_images.push_back(static_cast<float>(rng.uniform()));
  for (int64_t i = 0; i < count; ++i) context.probe_labels.push_back(i % 3);
  return context;
}

torch::Tensor probe_tensor(const VectorizeContext& context) {
  return torch::from_blob(const_cast<float*>(context.probe_images.data()), {context.probe_count, kImagePixels},
                          torch::kFloat32)
      .to(torch::kFloat64);
}

// Weights of a registered family's real layout.
FamilyWeights family_weights(const std::string& family, const FamilyConfig& config, int64_t models, double scale) {
  return random_weights(family, find_family(family).layout(config), models, scale);
}

torch::Tensor param64(const FamilyWeights& w, int64_t row, const std::string& name) {
  return param_of(w, row, name).to(torch::kFloat64);
}

// A dense layer on rows of x: x W^T + b.
torch::Tensor dense(const FamilyWeights& w, int64_t row, const std::string& layer, const torch::Tensor& x) {
  return torch::matmul(x, param64(w, row, layer + ".weight").transpose(0, 1)) + param64(w, row, layer + ".bias");
}

void expect_rows_near(const FeatureMatrix& f, int64_t row, const torch::Tensor& expected, double tolerance) {
  ASSERT_EQ(expected.numel(), f.dim);
  for (int64_t j = 0; j < f.dim; ++j) EXPECT_NEAR(f.row(row)[j], expected[j].item<double>(), tolerance) << "column " << j;
}

// 18 models: more than one pass of the vectorization's model groups.
TEST(Vectorize, LatentMeanOfLinearAeIsTheMeanCodeOfTheProbeImages) {
  const FamilyWeights w = random_weights("linear_ae", linear_ae_layout(4), 18, 0.05);
  const VectorizeContext context = random_probe_images(5);
  const Vectorization& latent = find_vectorization("latent_mean");
  ASSERT_TRUE(latent.applies_to(w.family, w.layout, nullptr));
  const FeatureMatrix f = vectorize(latent, w, all_rows(w), context);
  ASSERT_EQ(f.dim, 4);
  for (int64_t m = 0; m < 18; ++m) expect_rows_near(f, m, dense(w, m, "encoder", probe_tensor(context)).mean(0), 1e-5);
  // Without probe images: a clear error, not garbage.
  EXPECT_THROW(vectorize(latent, w, all_rows(w), {}), ReduceError);
}

TEST(Vectorize, LatentMeanOfConvAeRunsItsConvolutionalEncoder) {
  FamilyConfig config;
  config.channels = 2;
  config.latent = 3;
  const FamilyWeights w = family_weights("conv_ae", config, 3, 0.3);
  const VectorizeContext context = random_probe_images(4);
  const FeatureMatrix f = vectorize(find_vectorization("latent_mean"), w, all_rows(w), context);
  ASSERT_EQ(f.dim, 3);
  const auto images = probe_tensor(context).view({4, 1, kImageSide, kImageSide});
  for (int64_t m = 0; m < 3; ++m) {
    auto h = torch::relu(torch::conv2d(images, param64(w, m, "encoder.conv1.weight"), param64(w, m, "encoder.conv1.bias"), 2, 1));
    h = torch::relu(torch::conv2d(h, param64(w, m, "encoder.conv2.weight"), param64(w, m, "encoder.conv2.bias"), 2, 1));
    expect_rows_near(f, m, dense(w, m, "encoder.fc", h.flatten(1)).mean(0), 1e-4);
  }
}

TEST(Vectorize, LatentMeanOfVaeIsTheMeanPosteriorMean) {
  FamilyConfig config;
  config.hidden = 8;
  config.latent = 3;
  const FamilyWeights w = family_weights("vae", config, 2, 0.2);
  const VectorizeContext context = random_probe_images(6);
  const FeatureMatrix f = vectorize(find_vectorization("latent_mean"), w, all_rows(w), context);
  ASSERT_EQ(f.dim, 3);
  for (int64_t m = 0; m < 2; ++m) {
    const auto hidden = torch::relu(dense(w, m, "encoder.fc", probe_tensor(context)));
    expect_rows_near(f, m, dense(w, m, "encoder.mu", hidden).mean(0), 1e-4);
  }
}

TEST(Vectorize, ProbeErrorIsTheMeanReconstructionErrorPerClass) {
  const FamilyWeights w = random_weights("linear_ae", linear_ae_layout(4), 3, 0.05);
  const VectorizeContext context = random_probe_images(7);  // classes 0, 1, 2, 0, 1, 2, 0
  const FeatureMatrix f = vectorize(find_vectorization("probe_error"), w, all_rows(w), context);
  ASSERT_EQ(f.dim, 3);
  const auto images = probe_tensor(context);
  for (int64_t m = 0; m < 3; ++m) {
    const auto codes = dense(w, m, "encoder", images);
    const auto errors = (dense(w, m, "decoder", codes) - images).pow(2).mean(1);  // [7]
    const auto expected = torch::stack({(errors[0] + errors[3] + errors[6]) / 3, (errors[1] + errors[4]) / 2,
                                        (errors[2] + errors[5]) / 2});
    expect_rows_near(f, m, expected, 1e-5);
  }
  // Labels missing: a clear error naming the vectorization.
  VectorizeContext unlabelled = context;
  unlabelled.probe_labels.clear();
  try {
    vectorize(find_vectorization("probe_error"), w, all_rows(w), unlabelled);
    FAIL() << "no error";
  } catch (const ReduceError& e) {
    EXPECT_NE(std::string(e.what()).find("probe_error: needs probe images"), std::string::npos) << e.what();
  }
}

// A classifier's probe_error is its mean cross-entropy per class of the zoo, scored against each
// class's dataset label (the zoo's classes 3, 5, 8 here); it has no encoder, so no latent_mean.
TEST(Vectorize, ProbeErrorOfAClassifierIsItsCrossEntropyPerClass) {
  FamilyConfig config;
  config.name = "mlp";
  config.hidden = 8;
  const Layout layout = find_family("mlp").layout(config);
  const FamilyWeights w = random_weights("mlp", layout, 2, 0.3);
  VectorizeContext context = random_probe_images(7);
  EXPECT_FALSE(find_vectorization("latent_mean").applies_to("mlp", layout, nullptr));
  EXPECT_THROW(vectorize(find_vectorization("probe_error"), w, all_rows(w), context), ReduceError);  // labels unknown
  context.class_labels = {3, 5, 8};
  const FeatureMatrix f = vectorize(find_vectorization("probe_error"), w, all_rows(w), context);
  ASSERT_EQ(f.dim, 3);
  const auto images = probe_tensor(context);  // [7, 784]
  for (int64_t m = 0; m < 2; ++m) {
    const auto flat = torch::from_blob(const_cast<float*>(w.data.data()) + m * layout_size(layout), {1, layout_size(layout)});
    const auto logits = find_family("mlp").torch_impl().logits(view_params(flat, layout), images.to(torch::kFloat32).unsqueeze(0))[0];
    const auto log_p = torch::log_softmax(logits.to(torch::kFloat64), 1);
    const auto ce = [&](int64_t i, int64_t label) { return -log_p[i][label]; };
    const auto expected = torch::stack({(ce(0, 3) + ce(3, 3) + ce(6, 3)) / 3, (ce(1, 5) + ce(4, 5)) / 2, (ce(2, 8) + ce(5, 8)) / 2});
    expect_rows_near(f, m, expected, 1e-5);
  }
}

TEST(Vectorize, LatentMeanSaysWhyItDoesNotApplyToAGan) {
  FamilyConfig config;
  std::string why;
  EXPECT_FALSE(find_vectorization("latent_mean").applies_to("gan", find_family("gan").layout(config), &why));
  EXPECT_NE(why.find("gan has no encoder"), std::string::npos) << why;
}

TEST(Vectorize, RowOutOfRangeIsAnError) {
  const FamilyWeights w = random_weights("conv_ae", conv_layout(), 2, 1.0);
  EXPECT_THROW(vectorize(find_vectorization("svd"), w, {2}, {}), ReduceError);
}

}  // namespace
}  // namespace genzoo
