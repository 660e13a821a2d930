#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "cli/commands.h"
#include "store/zoo.h"

namespace genzoo::cli {

namespace {

// Linear-interpolated quantile of sorted values.
double quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return NAN;
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos)), hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

std::string join(const std::vector<int64_t>& values) {
  std::string text;
  for (size_t i = 0; i < values.size(); ++i) text += (i ? ", " : "") + std::to_string(values[i]);
  return text;
}

void print_zoo(const std::string& path, const ZooData& zoo) {
  const auto& a = zoo.attrs;
  std::printf("%s: schema %d, genzoo %s, created %s\n", path.c_str(), a.schema_version, a.genzoo_version.c_str(),
              a.created_utc.c_str());
  std::printf("job %s (fingerprint %s), dataset %s, classes [%s]\n", a.job_name.c_str(), a.job_fingerprint.c_str(),
              a.dataset.c_str(), join(a.classes).c_str());
  if (zoo.featurenet) {
    std::printf("feature net: test accuracy %.4f, embedding %lld, %zu parameters\n", zoo.featurenet->test_accuracy,
                static_cast<long long>(zoo.featurenet->embedding_dim), zoo.featurenet->weights.size());
  }
  std::map<std::string, std::vector<const ModelRecord*>> by_family;
  for (const auto& m : zoo.models) by_family[m.family].push_back(&m);
  std::printf("\n%-10s %6s %6s %8s %8s  %-44s %9s\n", "family", "models", "ok", "diverged", "params",
              "final_loss  min / q25 / median / q75 / max", "test med");
  for (const auto& [family, models] : by_family) {
    std::vector<double> final_losses, test_losses;
    int64_t ok = 0;
    for (const auto* m : models) {
      if (m->status == "ok") {
        ++ok;
        final_losses.push_back(m->final_loss);
        test_losses.push_back(m->test_loss);
      }
    }
    std::sort(final_losses.begin(), final_losses.end());
    std::sort(test_losses.begin(), test_losses.end());
    const auto w = zoo.weights.find(family);
    const long long params = w == zoo.weights.end() ? 0 : static_cast<long long>(w->second.param_count());
    std::printf("%-10s %6zu %6lld %8lld %8lld  %.4f / %.4f / %.4f / %.4f / %.4f   %9.4f\n", family.c_str(), models.size(),
                static_cast<long long>(ok), static_cast<long long>(models.size()) - ok, params,
                quantile(final_losses, 0), quantile(final_losses, 0.25), quantile(final_losses, 0.5),
                quantile(final_losses, 0.75), quantile(final_losses, 1), quantile(test_losses, 0.5));
  }
  std::map<std::string, int64_t> designs;
  std::map<std::string, int64_t> statuses;
  for (const auto& m : zoo.models) {
    ++designs[m.design];
    ++statuses[m.status];
  }
  std::printf("\ndesigns:");
  for (const auto& [design, count] : designs) std::printf(" %s %lld", design.c_str(), static_cast<long long>(count));
  std::printf("\nstatus: ");
  for (const auto& [status, count] : statuses) std::printf(" %s %lld", status.c_str(), static_cast<long long>(count));
  std::printf("\n");
  for (const auto& [family, w] : zoo.weights) {
    if (!w.checkpoint_steps.empty()) {
      std::printf("checkpoints %s: steps [%s]\n", family.c_str(), join(w.checkpoint_steps).c_str());
    }
  }
}

}  // namespace

Runner add_inspect_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("inspect", "Summarize a zoo.h5 (or a shard): families, counts, statuses, losses, classes");
  auto path = std::make_shared<std::string>();
  cmd->add_option("file", *path, "zoo.h5, a shard or featurenet.h5")->required()->check(CLI::ExistingFile);
  return [path] {
    print_zoo(*path, read_zoo(*path));
    return 0;
  };
}

}  // namespace genzoo::cli
