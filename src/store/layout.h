// How one model's flat parameter vector splits into named tensors. Stored next to the weights so a
// reader can rebuild every tensor with numpy alone.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace genzoo {

struct ParamLayout {
  std::string name;             // e.g. "encoder.weight"
  std::string role;             // "encoder", "decoder", "generator", "discriminator", "classifier"
  std::vector<int64_t> shape;
  int64_t offset = 0;           // into the flat vector
  int64_t numel() const;
};

using Layout = std::vector<ParamLayout>;

// Appends a tensor at the end of the layout, returns its offset. Throws std::invalid_argument for a
// repeated name or a negative extent.
int64_t add_param(Layout& layout, std::string name, std::string role, std::vector<int64_t> shape);
// Length of the flat vector: where the last parameter ends.
int64_t layout_size(const Layout& layout);
// Throws StorageError naming the parameter (and the ones the layout has) when it is absent.
const ParamLayout& find_param(const Layout& layout, const std::string& name);
// [{"name": .., "role": .., "shape": [..], "offset": ..}, ...]: the layout as a human reads it,
// stored next to the CSR datasets in zoo files.
std::string layout_json(const Layout& layout);

}  // namespace genzoo
