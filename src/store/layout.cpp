#include "store/layout.h"

#include <cstdio>
#include <sstream>
#include <stdexcept>

#include "common/error.h"
#include "common/text.h"

namespace genzoo {

int64_t ParamLayout::numel() const {
  int64_t count = 1;  // a scalar (empty shape) holds one value
  for (int64_t extent : shape) count *= extent;
  return count;
}

int64_t add_param(Layout& layout, std::string name, std::string role, std::vector<int64_t> shape) {
  // Both are programming errors in a model family, not bad user input.
  for (int64_t extent : shape) {
    if (extent < 0) throw std::invalid_argument("parameter '" + name + "' has a negative extent");
  }
  for (const ParamLayout& param : layout) {
    if (param.name == name) throw std::invalid_argument("parameter '" + name + "' added twice");
  }
  ParamLayout param;
  param.name = std::move(name);
  param.role = std::move(role);
  param.shape = std::move(shape);
  param.offset = layout_size(layout);
  layout.push_back(std::move(param));
  return layout.back().offset;
}

int64_t layout_size(const Layout& layout) {
  // Parameters are appended in order, so the last one ends the flat vector.
  return layout.empty() ? 0 : layout.back().offset + layout.back().numel();
}

const ParamLayout& find_param(const Layout& layout, const std::string& name) {
  for (const ParamLayout& param : layout) {
    if (param.name == name) return param;
  }
  std::vector<std::string> known;
  for (const ParamLayout& param : layout) known.push_back(param.name);
  throw StorageError("layout has no parameter '" + name + "' (it has: " + join(known) + ")");
}

namespace {

std::string json_string(const std::string& text) {
  std::string quoted = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      quoted += '\\';
      quoted += static_cast<char>(c);
    } else if (c < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
      quoted += escaped;
    } else {
      quoted += static_cast<char>(c);  // UTF-8 bytes pass through unchanged
    }
  }
  return quoted + "\"";
}

}  // namespace

std::string layout_json(const Layout& layout) {
  std::ostringstream json;
  json << "[";
  for (size_t i = 0; i < layout.size(); ++i) {
    const ParamLayout& param = layout[i];
    json << (i ? ",\n " : "") << "{\"name\": " << json_string(param.name)
         << ", \"role\": " << json_string(param.role) << ", \"shape\": [";
    for (size_t d = 0; d < param.shape.size(); ++d) json << (d ? ", " : "") << param.shape[d];
    json << "], \"offset\": " << param.offset << "}";
  }
  json << "]";
  return json.str();
}

}  // namespace genzoo
