// Small text helpers shared by messages and listings.
#pragma once

#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

namespace genzoo {

// The current time as ISO 8601 UTC, "2026-12-06T03:04:05Z" (files' created_utc).
inline std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return text;
}

// "a, b, c" (with the given separator).
inline std::string join(const std::vector<std::string>& items, const std::string& separator = ", ") {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? separator : "") + items[i];
  return out;
}

// The parts of text between separators ("a; b" -> {"a", "b"}; "" -> {""}): join's inverse.
inline std::vector<std::string> split(const std::string& text, const std::string& separator) {
  std::vector<std::string> parts;
  size_t begin = 0;
  for (size_t at = text.find(separator); at != std::string::npos; at = text.find(separator, begin)) {
    parts.push_back(text.substr(begin, at - begin));
    begin = at + separator.size();
  }
  parts.push_back(text.substr(begin));
  return parts;
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
