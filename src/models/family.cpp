#include "models/family.h"

#include <map>

#include "common/error.h"

namespace genzoo {

namespace {
std::map<std::string, std::unique_ptr<Family>>& registry() {
  static std::map<std::string, std::unique_ptr<Family>> families;
  return families;
}
}  // namespace

detail::FamilyRegistration::FamilyRegistration(std::unique_ptr<Family> family) {
  const std::string name = family->name();
  registry()[name] = std::move(family);
}

const Family& find_family(const std::string& name) {
  auto it = registry().find(name);
  if (it == registry().end()) {
    std::string known;
    for (const auto& entry : registry()) known += (known.empty() ? "" : ", ") + entry.first;
    throw JobError("unknown model family '" + name + "' (registered: " + known + ")");
  }
  return *it->second;
}

std::vector<std::string> family_names() {
  std::vector<std::string> names;
  for (const auto& entry : registry()) names.push_back(entry.first);
  return names;
}

}  // namespace genzoo
