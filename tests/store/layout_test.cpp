#include "store/layout.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "common/error.h"

namespace genzoo {
namespace {

Layout autoencoder_layout() {
  Layout layout;
  add_param(layout, "encoder.weight", "encoder", {2, 6});
  add_param(layout, "encoder.bias", "encoder", {2});
  add_param(layout, "decoder.weight", "decoder", {6, 2});
  add_param(layout, "decoder.bias", "decoder", {6});
  return layout;
}

TEST(Layout, AddParamAppendsAtTheEnd) {
  Layout layout;
  EXPECT_EQ(add_param(layout, "encoder.weight", "encoder", {2, 6}), 0);
  EXPECT_EQ(add_param(layout, "encoder.bias", "encoder", {2}), 12);
  EXPECT_EQ(add_param(layout, "log_sigma", "decoder", {}), 14);  // a scalar holds one value
  EXPECT_EQ(add_param(layout, "conv.weight", "encoder", {4, 1, 3, 3}), 15);
  ASSERT_EQ(layout.size(), 4u);
  EXPECT_EQ(layout[3].offset, 15);
  EXPECT_EQ(layout[3].numel(), 36);
  EXPECT_EQ(layout[3].role, "encoder");
}

TEST(Layout, SizeIsWhereTheLastParameterEnds) {
  EXPECT_EQ(layout_size(Layout{}), 0);
  EXPECT_EQ(layout_size(autoencoder_layout()), 12 + 2 + 12 + 6);
}

TEST(Layout, ZeroExtentMakesAnEmptyTensor) {
  Layout layout;
  add_param(layout, "empty", "encoder", {0, 5});
  EXPECT_EQ(add_param(layout, "bias", "encoder", {3}), 0);
  EXPECT_EQ(layout_size(layout), 3);
}

TEST(Layout, FindParamByName) {
  const Layout layout = autoencoder_layout();
  const ParamLayout& param = find_param(layout, "decoder.weight");
  EXPECT_EQ(param.offset, 14);
  EXPECT_EQ(param.shape, (std::vector<int64_t>{6, 2}));
}

TEST(Layout, FindParamUnknownNameThrowsNamingIt) {
  const Layout layout = autoencoder_layout();
  try {
    find_param(layout, "generator.weight");
    FAIL() << "no exception";
  } catch (const StorageError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("generator.weight"), std::string::npos) << message;
    EXPECT_NE(message.find("decoder.bias"), std::string::npos) << message;  // lists what there is
  }
}

TEST(Layout, RepeatedNameOrNegativeExtentIsRejected) {
  Layout layout = autoencoder_layout();
  EXPECT_THROW(add_param(layout, "encoder.bias", "encoder", {2}), std::invalid_argument);
  EXPECT_THROW(add_param(layout, "bad", "encoder", {2, -1}), std::invalid_argument);
  EXPECT_EQ(layout.size(), 4u);
}

TEST(Layout, JsonListsNameRoleShapeOffset) {
  Layout layout;
  add_param(layout, "w", "encoder", {2, 3});
  add_param(layout, "odd \"name\"\\", "decoder", {});
  EXPECT_EQ(layout_json(layout),
            "[{\"name\": \"w\", \"role\": \"encoder\", \"shape\": [2, 3], \"offset\": 0},\n"
            " {\"name\": \"odd \\\"name\\\"\\\\\", \"role\": \"decoder\", \"shape\": [], \"offset\": 6}]");
  EXPECT_EQ(layout_json(Layout{}), "[]");
}

}  // namespace
}  // namespace genzoo
