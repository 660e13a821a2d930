// Small text helpers shared by messages and listings.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

namespace genzoo {

// "a, b, c" (with the given separator).
inline std::string join(const std::vector<std::string>& items, const std::string& separator = ", ") {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? separator : "") + items[i];
  return out;
}

// x with `digits` digits after the point ("12.35").
inline std::string fixed_text(double x, int digits = 2) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", digits, x);
  return text;
}

// x in %g form ("1e-08", "0.25").
inline std::string general_text(double x) {
  char text[64];
  std::snprintf(text, sizeof text, "%g", x);
  return text;
}

}  // namespace genzoo
