// Tests for src/models/family.cpp, linear_ae.cpp, conv_ae.cpp and torch_family.cpp: the registry, the
// canonical layouts, the deterministic PyTorch-style init and the stacked parameter views.
#include "models/family.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "common/error.h"
#include "job/job.h"
#include "models/linear_ae.h"
#include "models/torch_family.h"

namespace genzoo::test {
namespace {

FamilyConfig config_of(const std::string& name, int64_t latent, int64_t channels = 8) {
  FamilyConfig config;
  config.name = name;
  config.latent = latent;
  config.channels = channels;
  return config;
}

std::map<std::string, std::vector<int64_t>> shapes_of(const Layout& layout) {
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& p : layout) shapes[p.name] = p.shape;
  return shapes;
}

// Offsets are contiguous in declaration order and the total is where the last tensor ends.
void expect_packed(const Layout& layout) {
  int64_t offset = 0;
  for (const auto& p : layout) {
    EXPECT_EQ(p.offset, offset) << p.name;
    offset += p.numel();
  }
  EXPECT_EQ(layout_size(layout), offset);
}

TEST(FamilyRegistry, FindsTheRegisteredFamilies) {
  EXPECT_EQ(find_family("linear_ae").name(), "linear_ae");
  EXPECT_EQ(find_family("conv_ae").name(), "conv_ae");
  const auto names = family_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "linear_ae"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "conv_ae"), names.end());
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_FALSE(find_family("linear_ae").description().empty());
}

TEST(FamilyRegistry, UnknownNameThrowsJobErrorListingTheRegisteredOnes) {
  try {
    find_family("linear-ae");
    FAIL() << "expected JobError";
  } catch (const JobError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("'linear-ae'"), std::string::npos) << message;
    for (const auto& name : family_names()) EXPECT_NE(message.find(name), std::string::npos) << message;
  }
}

TEST(FamilyLayout, LinearAeHasTheCanonicalShapes) {
  const Layout layout = find_family("linear_ae").layout(config_of("linear_ae", 16));
  ASSERT_EQ(layout.size(), 4u);
  EXPECT_EQ(layout[0].name, "encoder.weight");
  EXPECT_EQ(layout[1].name, "encoder.bias");
  EXPECT_EQ(layout[2].name, "decoder.weight");
  EXPECT_EQ(layout[3].name, "decoder.bias");
  EXPECT_EQ(layout[0].shape, (std::vector<int64_t>{16, 784}));
  EXPECT_EQ(layout[1].shape, (std::vector<int64_t>{16}));
  EXPECT_EQ(layout[2].shape, (std::vector<int64_t>{784, 16}));
  EXPECT_EQ(layout[3].shape, (std::vector<int64_t>{784}));
  EXPECT_EQ(layout[0].role, "encoder");
  EXPECT_EQ(layout[3].role, "decoder");
  EXPECT_EQ(layout_size(layout), 25888);
  expect_packed(layout);
  // The registry's layout is the one the fast kernels use.
  EXPECT_EQ(layout_size(linear_ae_layout(32)), 2 * 32 * 784 + 32 + 784);
  EXPECT_EQ(layout_size(find_family("linear_ae").layout(config_of("linear_ae", 32))), 50992);
}

TEST(FamilyLayout, ConvAeHasTheCanonicalShapes) {
  const Layout layout = find_family("conv_ae").layout(config_of("conv_ae", 16, 8));
  const auto shapes = shapes_of(layout);
  using Shape = std::vector<int64_t>;
  EXPECT_EQ(shapes.at("encoder.conv1.weight"), (Shape{8, 1, 4, 4}));
  EXPECT_EQ(shapes.at("encoder.conv1.bias"), (Shape{8}));
  EXPECT_EQ(shapes.at("encoder.conv2.weight"), (Shape{16, 8, 4, 4}));
  EXPECT_EQ(shapes.at("encoder.conv2.bias"), (Shape{16}));
  EXPECT_EQ(shapes.at("encoder.fc.weight"), (Shape{16, 16 * 7 * 7}));
  EXPECT_EQ(shapes.at("encoder.fc.bias"), (Shape{16}));
  EXPECT_EQ(shapes.at("decoder.fc.weight"), (Shape{16 * 7 * 7, 16}));
  EXPECT_EQ(shapes.at("decoder.fc.bias"), (Shape{16 * 7 * 7}));
  EXPECT_EQ(shapes.at("decoder.convt1.weight"), (Shape{16, 8, 4, 4}));  // [in, out, kh, kw]
  EXPECT_EQ(shapes.at("decoder.convt1.bias"), (Shape{8}));
  EXPECT_EQ(shapes.at("decoder.convt2.weight"), (Shape{8, 1, 4, 4}));
  EXPECT_EQ(shapes.at("decoder.convt2.bias"), (Shape{1}));
  EXPECT_EQ(layout.size(), 12u);
  EXPECT_EQ(layout_size(layout), 30273);
  expect_packed(layout);
}

TEST(FamilyLayout, FlopsGrowWithTheCode) {
  for (const std::string name : {"linear_ae", "conv_ae"}) {
    const Family& family = find_family(name);
    EXPECT_GT(family.flops_per_sample(config_of(name, 32)), family.flops_per_sample(config_of(name, 16))) << name;
    EXPECT_GT(family.flops_per_sample(config_of(name, 16)), 0.0) << name;
  }
  // linear_ae: 3 GEMMs (forward + 2 backward) x 2 layers x 784 x k multiply-adds x 2 FLOPs.
  EXPECT_DOUBLE_EQ(find_family("linear_ae").flops_per_sample(config_of("linear_ae", 16)), 3.0 * 2.0 * 784 * 16 * 2.0);
}

// The bound of each tensor: 1/sqrt(fan_in) of its weight (biases use the preceding weight's fan_in).
std::map<std::string, double> expected_bounds(const std::string& family) {
  if (family == "linear_ae") {
    return {{"encoder.weight", 1 / std::sqrt(784.0)},
            {"encoder.bias", 1 / std::sqrt(784.0)},
            {"decoder.weight", 1 / std::sqrt(16.0)},
            {"decoder.bias", 1 / std::sqrt(16.0)}};
  }
  return {{"encoder.conv1.weight", 1 / std::sqrt(16.0)},     {"encoder.conv1.bias", 1 / std::sqrt(16.0)},
          {"encoder.conv2.weight", 1 / std::sqrt(128.0)},    {"encoder.conv2.bias", 1 / std::sqrt(128.0)},
          {"encoder.fc.weight", 1 / std::sqrt(784.0)},       {"encoder.fc.bias", 1 / std::sqrt(784.0)},
          {"decoder.fc.weight", 1 / std::sqrt(16.0)},        {"decoder.fc.bias", 1 / std::sqrt(16.0)},
          {"decoder.convt1.weight", 1 / std::sqrt(128.0)},   {"decoder.convt1.bias", 1 / std::sqrt(128.0)},
          {"decoder.convt2.weight", 1 / std::sqrt(16.0)},    {"decoder.convt2.bias", 1 / std::sqrt(16.0)}};
}

TEST(InitFlatParams, IsDeterministicPerSeedAndBoundedByFanIn) {
  for (const std::string name : {"linear_ae", "conv_ae"}) {
    const Layout layout = find_family(name).layout(config_of(name, 16, 8));
    const int64_t size = layout_size(layout);
    std::vector<float> a(size, 99.0f), b(size, -99.0f), c(size, 0.0f);
    init_flat_params(a.data(), layout, 17);
    init_flat_params(b.data(), layout, 17);
    init_flat_params(c.data(), layout, 18);
    EXPECT_EQ(a, b) << name << ": same seed, same init";
    EXPECT_NE(a, c) << name << ": another seed, another init";
    const auto bounds = expected_bounds(name);
    for (const auto& p : layout) {
      const double bound = bounds.at(p.name);
      double largest = 0.0, sum = 0.0;
      for (int64_t i = 0; i < p.numel(); ++i) {
        const double value = a[p.offset + i];
        largest = std::max(largest, std::fabs(value));
        sum += value;
      }
      EXPECT_LE(largest, bound) << name << " " << p.name;
      // Uniform on (-bound, bound): the largest draw comes near the bound and the mean near zero.
      if (p.numel() >= 100) {
        EXPECT_GT(largest, 0.9 * bound) << name << " " << p.name;
        EXPECT_LT(std::fabs(sum / p.numel()), 0.25 * bound) << name << " " << p.name;
      }
    }
  }
}

TEST(ViewParams, GivesStackedViewsIntoTheFlatTensor) {
  const Layout layout = find_family("linear_ae").layout(config_of("linear_ae", 16));
  const int64_t models = 3, size = layout_size(layout);
  auto flat = torch::arange(models * size, torch::kFloat).reshape({models, size});
  const StackedParams params = view_params(flat, layout);
  ASSERT_EQ(params.size(), 4u);
  EXPECT_EQ(params.at("encoder.weight").sizes().vec(), (std::vector<int64_t>{3, 16, 784}));
  EXPECT_EQ(params.at("encoder.bias").sizes().vec(), (std::vector<int64_t>{3, 16}));
  EXPECT_EQ(params.at("decoder.weight").sizes().vec(), (std::vector<int64_t>{3, 784, 16}));
  EXPECT_EQ(params.at("decoder.bias").sizes().vec(), (std::vector<int64_t>{3, 784}));
  // Element [m, i, j] of decoder.weight is flat[m, offset + i * 16 + j].
  const auto& decoder = find_param(layout, "decoder.weight");
  EXPECT_EQ(params.at("decoder.weight")[2][5][7].item<float>(), static_cast<float>(2 * size + decoder.offset + 5 * 16 + 7));
  EXPECT_EQ(params.at("encoder.bias")[1][0].item<float>(), static_cast<float>(size + 16 * 784));
  // They are views: writing through one changes the flat tensor.
  params.at("decoder.bias")[1][783].fill_(-1.0f);
  EXPECT_EQ(flat[1][size - 1].item<float>(), -1.0f);
}

}  // namespace
}  // namespace genzoo::test
