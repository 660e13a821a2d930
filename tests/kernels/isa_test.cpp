// Tests for src/kernels/isa.cpp: run-time choice of the kernels' instruction set.
#include "kernels/isa.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "common/error.h"

namespace genzoo::test {
namespace {

// Restores automatic dispatch whatever a test did.
class KernelIsa : public ::testing::Test {
 protected:
  void TearDown() override { kernels::use_isa("auto"); }
};

TEST_F(KernelIsa, AutoPicksTheBestAvailableTarget) {
  const auto available = kernels::available_isas();
  ASSERT_FALSE(available.empty());
  EXPECT_EQ(kernels::isa(), available.front());
}

// Each target this CPU runs can be chosen by name (any case) and dispatches there with its own width.
TEST_F(KernelIsa, EveryAvailableTargetCanBeChosenAndHasItsWidth) {
  const std::map<std::string, int64_t> lanes = {{"AVX3", 16}, {"AVX3_DL", 16}, {"AVX2", 8}, {"SSE4", 4},
                                                {"NEON", 4},  {"EMU128", 4},   {"SCALAR", 1}};
  for (const std::string& name : kernels::available_isas()) {
    std::string lower = name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    kernels::use_isa(lower);
    EXPECT_EQ(kernels::isa(), name);
    ASSERT_TRUE(lanes.count(name)) << name;
    EXPECT_EQ(kernels::float_lanes(), lanes.at(name)) << name;
    EXPECT_EQ(kernels::isa_has_wide_fma(), lanes.at(name) >= 8) << name;
  }
  kernels::use_isa("auto");
  EXPECT_EQ(kernels::isa(), kernels::available_isas().front());
}

TEST_F(KernelIsa, AnUnknownTargetIsRefusedNamingTheAvailableOnes) {
  const std::string before = kernels::isa();
  try {
    kernels::use_isa("avx1024");
    FAIL() << "no exception";
  } catch (const UsageError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("avx1024"), std::string::npos) << message;
    EXPECT_NE(message.find(kernels::available_isas().front()), std::string::npos) << message;
  }
  EXPECT_EQ(kernels::isa(), before);  // a refused request changes nothing
}

}  // namespace
}  // namespace genzoo::test
