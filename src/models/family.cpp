#include "models/family.h"

#include <map>

#include "common/error.h"
#include "common/text.h"
#include "job/job.h"
#include "train/fast_trainer.h"

namespace genzoo {

namespace {
std::map<std::string, std::unique_ptr<Family>>& registry() {
  static std::map<std::string, std::unique_ptr<Family>> families;
  return families;
}
}  // namespace

std::unique_ptr<FastStep> Family::cpu_step(const FamilyConfig& /*config*/) const { return nullptr; }

detail::FamilyRegistration::FamilyRegistration(std::unique_ptr<Family> family) {
  const std::string name = family->name();
  registry()[name] = std::move(family);
}

const Family& find_family(const std::string& name) {
  auto it = registry().find(name);
  if (it == registry().end()) {
    throw JobError("unknown model family '" + name + "' (registered: " + join(family_names()) + ")");
  }
  return *it->second;
}

double training_flops(const FamilyConfig& config) {
  return find_family(config.name).flops_per_sample(config) * static_cast<double>(config.batch_size) *
         static_cast<double>(config.steps);
}

void check_family_layouts(const std::vector<FamilyConfig>& families, const std::string& source) {
  std::map<std::string, std::pair<size_t, Layout>> first;  // family -> (table index, layout)
  for (size_t i = 0; i < families.size(); ++i) {
    const Layout layout = find_family(families[i].name).layout(families[i]);
    auto [it, inserted] = first.try_emplace(families[i].name, i, layout);
    if (inserted) continue;
    const Layout& other = it->second.second;
    bool same = other.size() == layout.size();
    for (size_t p = 0; same && p < layout.size(); ++p) same = other[p].name == layout[p].name && other[p].shape == layout[p].shape;
    if (!same) {
      throw JobError(source + ": family[" + std::to_string(i) + "] and family[" + std::to_string(it->second.first) +
                     "] are both '" + families[i].name +
                     "' with different parameter shapes (latent, channels, hidden, condition, decoder, decoder_layers, likelihood or latent_density); zoo.h5 stacks one "
                     "layout per family");
    }
  }
}

std::vector<std::string> family_names() {
  std::vector<std::string> names;
  for (const auto& entry : registry()) names.push_back(entry.first);
  return names;
}

}  // namespace genzoo
