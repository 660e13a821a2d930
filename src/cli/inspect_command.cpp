#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "cli/commands.h"
#include "reduce/reduce_file.h"
#include "common/error.h"
#include "metrics/png.h"
#include "store/zoo.h"
#include "data/image.h"

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

// Medians of the family-specific metric columns (elbo, fid, js, mode coverage), where present.
void print_metric_medians(const ZooData& zoo, const std::map<std::string, std::vector<const ModelRecord*>>& by_family) {
  for (const auto& [family, models] : by_family) {
    std::map<std::string, std::vector<double>> values;
    for (const auto* m : models) {
      for (const auto& [name, value] : m->metrics) {
        if (std::isfinite(value)) values[name].push_back(value);
      }
    }
    if (values.empty()) continue;
    std::printf("%-10s medians:", family.c_str());
    for (auto& [name, list] : values) {
      std::sort(list.begin(), list.end());
      std::printf(" %s %.4g", name.c_str(), quantile(list, 0.5));
    }
    std::printf("\n");
  }
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
  std::printf("\n%-10s %6s %6s %9s %7s %8s %8s  %-44s %9s\n", "family", "models", "ok", "collapsed", "garbage", "diverged", "params",
              "final_loss  min / q25 / median / q75 / max", "test med");
  for (const auto& [family, models] : by_family) {
    std::vector<double> final_losses, test_losses;
    std::map<std::string, long long> statuses;
    for (const auto* m : models) {
      ++statuses[m->status];
      if (m->status != "diverged") {  // a collapsed model still has meaningful losses
        final_losses.push_back(m->final_loss);
        test_losses.push_back(m->test_loss);
      }
    }
    std::sort(final_losses.begin(), final_losses.end());
    std::sort(test_losses.begin(), test_losses.end());
    const auto w = zoo.weights.find(family);
    const long long params = w == zoo.weights.end() ? 0 : static_cast<long long>(w->second.param_count());
    std::printf("%-10s %6zu %6lld %9lld %7lld %8lld %8lld  %.4f / %.4f / %.4f / %.4f / %.4f   %9.4f\n", family.c_str(),
                models.size(), statuses["ok"], statuses["collapsed"], statuses["garbage"], statuses["diverged"], params,
                quantile(final_losses, 0), quantile(final_losses, 0.25), quantile(final_losses, 0.5),
                quantile(final_losses, 0.75), quantile(final_losses, 1), quantile(test_losses, 0.5));
  }
  print_metric_medians(zoo, by_family);
  std::map<std::string, int64_t> designs;
  std::map<std::string, int64_t> statuses;
  std::map<std::string, int64_t> kernel_isas;  // what trained the models (results differ in the last bits)
  for (const auto& m : zoo.models) {
    ++designs[m.design];
    ++statuses[m.status];
    ++kernel_isas[m.kernel_isa.empty() ? "unrecorded" : m.kernel_isa];
  }
  std::printf("\ndesigns:");
  for (const auto& [design, count] : designs) std::printf(" %s %lld", design.c_str(), static_cast<long long>(count));
  std::printf("\nstatus: ");
  for (const auto& [status, count] : statuses) std::printf(" %s %lld", status.c_str(), static_cast<long long>(count));
  std::printf("\ntrained by:");
  for (const auto& [isa, count] : kernel_isas) std::printf(" %s %lld", isa.c_str(), static_cast<long long>(count));
  std::printf("\n");
  for (const auto& [family, w] : zoo.weights) {
    if (!w.checkpoint_steps.empty()) {
      std::printf("checkpoints %s: steps [%s]\n", family.c_str(), join(w.checkpoint_steps).c_str());
    }
  }
}

// One row per 8 images: the fixed-seed samples, then the interpolation row.
void write_sample_grid(const ZooData& zoo, const std::string& path, int64_t id, const std::string& png) {
  for (const auto& [family, w] : zoo.weights) {
    const auto row = std::find(w.model_ids.begin(), w.model_ids.end(), id);
    if (row == w.model_ids.end()) continue;
    if (w.samples_per_model == 0) {
      throw UsageError(path + ": model " + std::to_string(id) + " (" + family + ") has no stored samples");
    }
    constexpr int64_t kColumns = kInterpolationImages, kPadding = 2;
    const int64_t count = w.samples_per_model;
    const float* images = w.samples.data() + (row - w.model_ids.begin()) * count * kSampleImagePixels;
    const GridShape shape = tile_grid_shape(count, kImageSide, kColumns, kPadding);
    write_png_gray(png, tile_images(images, count, kImageSide, kColumns, kPadding), shape.height, shape.width);
    std::printf("%s: model %lld (%s), %lld samples (last row: interpolation)\n", png.c_str(), static_cast<long long>(id),
                family.c_str(), static_cast<long long>(count));
    return;
  }
  throw UsageError(path + ": no model " + std::to_string(id));
}

}  // namespace

Runner add_inspect_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("inspect", "Summarize a zoo.h5 (or a shard): families, counts, statuses, losses, classes; "
                                            "or a reduce.h5: its metric tables");
  auto path = std::make_shared<std::string>();
  auto sample_model = std::make_shared<int64_t>(-1);
  auto png = std::make_shared<std::string>();
  cmd->add_option("file", *path, "zoo.h5, a shard, featurenet.h5 or reduce.h5")->required()->check(CLI::ExistingFile);
  cmd->add_option("--samples", *sample_model, "Model id whose stored generated samples to draw (vae, gan)");
  cmd->add_option("--png", *png, "With --samples: write the sample grid (last row: interpolation) to this PNG");
  return [path, sample_model, png] {
    if (is_reduce_file(*path)) {  // root attribute kind = "reduce"; zoo files have none
      std::printf("%s: ", path->c_str());
      std::printf("%s", format_reduce_tables(read_reduce(*path)).c_str());
      return 0;
    }
    const ZooData zoo = read_zoo(*path);
    if (*sample_model < 0) {
      print_zoo(*path, zoo);
      return 0;
    }
    if (png->empty()) throw UsageError("--samples needs --png FILE");
    write_sample_grid(zoo, *path, *sample_model, *png);
    return 0;
  };
}

}  // namespace genzoo::cli
