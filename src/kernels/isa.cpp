#include "kernels/isa.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/isa.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace genzoo::kernels::HWY_NAMESPACE {

int64_t target_bits() { return HWY_TARGET; }
int64_t lanes() { return static_cast<int64_t>(hwy::HWY_NAMESPACE::Lanes(hwy::HWY_NAMESPACE::ScalableTag<float>())); }

}  // namespace genzoo::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "common/error.h"

namespace genzoo::kernels {

HWY_EXPORT(target_bits);
HWY_EXPORT(lanes);

namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

// The CPU's targets that this binary was compiled for, as Highway bits, best (lowest bit) first.
std::vector<int64_t> runnable_targets() {
  hwy::SetSupportedTargetsForTest(0);  // the CPU's own answer, not a restriction made earlier
  std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  return targets;
}

int64_t g_restriction = 0;  // Highway target bits dispatch is limited to; 0: none

}  // namespace

std::string isa() { return hwy::TargetName(HWY_DYNAMIC_DISPATCH(target_bits)()); }

int64_t float_lanes() { return HWY_DYNAMIC_DISPATCH(lanes)(); }

bool isa_has_wide_fma() {
  const int64_t target = HWY_DYNAMIC_DISPATCH(target_bits)();
#if HWY_ARCH_X86
  return target == HWY_AVX2 || target == HWY_AVX3 || target == HWY_AVX3_DL;
#else
  (void)target;
  return false;
#endif
}

std::vector<std::string> available_isas() {
  std::vector<std::string> names;
  for (int64_t target : runnable_targets()) names.push_back(hwy::TargetName(target));
  if (g_restriction != 0) hwy::SetSupportedTargetsForTest(g_restriction);
  return names;
}

void use_isa(const std::string& name) {
  const std::string wanted = lower(name);
  if (wanted == "auto") {
    g_restriction = 0;
    hwy::SetSupportedTargetsForTest(0);
    return;
  }
  std::string known;
  for (int64_t target : runnable_targets()) {
    const std::string target_name = hwy::TargetName(target);
    if (lower(target_name) == wanted) {
      g_restriction = target;
      hwy::SetSupportedTargetsForTest(target);
      return;
    }
    known += (known.empty() ? "" : ", ") + target_name;
  }
  if (g_restriction != 0) hwy::SetSupportedTargetsForTest(g_restriction);
  throw UsageError("instruction set '" + name + "' is not available on this CPU in this build (available: " + known +
                   ", or auto)");
}

void use_isa_from_environment() {
  if (const char* value = std::getenv("GENZOO_ISA"); value && *value) use_isa(value);
}

}  // namespace genzoo::kernels
#endif  // HWY_ONCE
