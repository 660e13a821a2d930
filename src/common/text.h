// Small text helpers shared by messages and listings.
#pragma once

#include <string>
#include <vector>

namespace genzoo {

// "a, b, c" (with the given separator).
inline std::string join(const std::vector<std::string>& items, const std::string& separator = ", ") {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? separator : "") + items[i];
  return out;
}

}  // namespace genzoo
