// Integration tests of the generative families through the real binary: `genzoo train` on
// tests/data/jobs/generative.toml (3 vae models, 3 class-conditional gan models, explicit classes so no
// feature net), read back with h5py and read_zoo; `genzoo inspect` and its --samples --png picture
// (decoded here); the refusals (a model without samples, two gan tables of different shapes); and
// the same job under mpirun -np 2 giving the 1-process result.
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>

#include "helpers.h"
#include "models/torch_family.h"
#include "store/zoo.h"

namespace genzoo::test {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPython = "/usr/bin/python3";  // Debian's, with h5py and numpy
constexpr int kMpiTimeout = 180;                     // seconds: anti-hang only
// Collapse threshold of src/train/generative_eval.cpp: pixel spread below this share of real images'.
constexpr double kCollapseDiversity = 0.1;

std::string generative_job_path() { return source_dir() + "/tests/data/jobs/generative.toml"; }
std::string generative_run() { return reference_run("generative", read_text(generative_job_path())); }
std::string generative_zoo() { return generative_run() + "/zoo.h5"; }

// The zoo as plain h5py sees it: one line per fact, compared as text below.
const char* const kH5pyReport = R"(
import sys
import h5py
import numpy as np
f = h5py.File(sys.argv[1], "r")
m = f["models"]
print("families", " ".join(m["family"].asstr()[()]))
print("status", " ".join(m["status"].asstr()[()]))
for name in ["elbo_train", "elbo_test", "js", "d_loss", "diversity_ratio", "fid"]:
    if name not in m:
        print(name, "absent")
        continue
    print(name, "".join("f" if np.isfinite(v) else ("n" if np.isnan(v) else "i") for v in m[name][()]))
for family in sorted(f["samples"]):
    g = f["samples"][family]
    images = g["images"][()]
    print("samples", family, "x".join(str(d) for d in images.shape), "ids", " ".join(str(i) for i in g["model_id"][()]),
          "interpolation", int(g.attrs["interpolation_images"]),
          "in_unit_interval", bool(images.min() >= 0 and images.max() <= 1))
)";

std::map<std::string, std::string> h5py_report(const std::string& zoo) {
  TempDir dir;
  write_text(dir.file("report.py"), kH5pyReport);
  const CommandResult result = run_command(std::string(kPython) + " " + shell_quote(dir.file("report.py")) + " " + shell_quote(zoo));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  std::map<std::string, std::string> report;
  for (const std::string& line : output_lines(result.output)) {
    const auto space = line.find(' ');
    std::string key = line.substr(0, space);
    std::string rest = line.substr(space + 1);
    if (key == "samples") {
      const auto second = rest.find(' ');
      key += " " + rest.substr(0, second);
      rest = rest.substr(second + 1);
    }
    report[key] = rest;
  }
  return report;
}

TEST(GenerativeCommand, TrainStoresSamplesAndFamilyMetricColumns) {
  const std::string zoo = generative_zoo();
  const auto report = h5py_report(zoo);
  EXPECT_EQ(report.at("families"), "vae vae vae gan gan gan");
  // Per-family columns: NaN where the figure does not apply. No feature net: no FID at all.
  EXPECT_EQ(report.at("elbo_train"), "fffnnn");
  EXPECT_EQ(report.at("elbo_test"), "fffnnn");
  EXPECT_EQ(report.at("js"), "nnnfff");
  EXPECT_EQ(report.at("d_loss"), "nnnfff");
  EXPECT_EQ(report.at("diversity_ratio"), "ffffff");
  EXPECT_EQ(report.at("fid"), "absent");
  // /samples/<family>/images [models, sample_grid + 8, 784]: vae grid 8, gan grid 4.
  EXPECT_EQ(report.at("samples vae"), "3x16x784 ids 0 1 2 interpolation 8 in_unit_interval True");
  EXPECT_EQ(report.at("samples gan"), "3x12x784 ids 3 4 5 interpolation 8 in_unit_interval True");

  const ZooData data = read_zoo(zoo);
  ASSERT_EQ(data.models.size(), 6u);
  for (const ModelRecord& model : data.models) {
    SCOPED_TRACE("model " + std::to_string(model.id));
    EXPECT_TRUE(model.status == "ok" || model.status == "collapsed") << model.status;
    EXPECT_EQ(model.status == "collapsed", model.metrics.at("diversity_ratio") < kCollapseDiversity);
    if (model.family == "vae") {
      EXPECT_LT(model.metrics.at("elbo_train"), 0.0);
      EXPECT_LT(model.metrics.at("elbo_test"), 0.0);
    } else {
      EXPECT_GE(model.metrics.at("js"), 0.0);
      EXPECT_LE(model.metrics.at("js"), std::log(2.0));
    }
  }
  // Both networks of the gan are stored, the layout telling which is which.
  const FamilyWeights& gan = data.weights.at("gan");
  const int64_t generator = generator_param_count(gan.layout);
  EXPECT_GT(generator, 0);
  EXPECT_LT(generator, gan.param_count());
  EXPECT_EQ(find_param(gan.layout, "discriminator.fc.weight").shape.back(), 2 * 4 * 49 + 3) << "conditional D";
  EXPECT_EQ(data.weights.at("vae").samples_per_model, 16);
  EXPECT_EQ(gan.samples_per_model, 12);
}

TEST(GenerativeCommand, InspectShowsBothFamiliesAndMetricMedians) {
  const CommandResult result = run_genzoo("inspect " + shell_quote(generative_zoo()));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  std::map<std::string, std::vector<std::string>> rows;
  std::map<std::string, std::string> medians;
  for (const std::string& line : output_lines(result.output)) {
    std::istringstream in(line);
    std::vector<std::string> fields;
    for (std::string field; in >> field;) fields.push_back(field);
    if (fields.size() >= 6 && (fields[0] == "vae" || fields[0] == "gan")) {
      if (fields[1] == "medians:") {
        medians[fields[0]] = line;
      } else {
        rows[fields[0]] = fields;
      }
    }
  }
  ASSERT_TRUE(rows.count("vae") && rows.count("gan")) << result.output;
  EXPECT_EQ(rows["vae"][1], "3") << result.output;
  EXPECT_EQ(rows["gan"][1], "3") << result.output;
  EXPECT_EQ(rows["vae"][4], "0") << "no vae diverged\n" << result.output;
  ASSERT_TRUE(medians.count("vae") && medians.count("gan")) << result.output;
  EXPECT_NE(medians["vae"].find(" elbo_train -"), std::string::npos) << medians["vae"];
  EXPECT_NE(medians["vae"].find(" elbo_test -"), std::string::npos) << medians["vae"];
  EXPECT_EQ(medians["vae"].find(" js "), std::string::npos) << medians["vae"];
  EXPECT_NE(medians["gan"].find(" js "), std::string::npos) << medians["gan"];
  EXPECT_EQ(medians["gan"].find("elbo"), std::string::npos) << medians["gan"];
  EXPECT_NE(result.output.find("job generative"), std::string::npos) << result.output;
}

uint32_t big_endian_u32(const std::string& bytes, size_t at) {
  uint32_t value = 0;
  for (size_t i = 0; i < 4; ++i) value = (value << 8) | static_cast<uint8_t>(bytes[at + i]);
  return value;
}

struct Png {
  uint32_t width = 0, height = 0;
  std::vector<uint8_t> pixels;  // [height, width], filter bytes removed
};

// Reads what write_png_gray writes: signature, IHDR (8-bit grayscale), IDAT, scanlines of filter 0.
Png decode_png(const std::string& path) {
  const std::string bytes = read_text(path);
  Png png;
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << "PNG signature";
  std::string idat;
  for (size_t at = 8; at + 12 <= bytes.size();) {
    const uint32_t length = big_endian_u32(bytes, at);
    const std::string type = bytes.substr(at + 4, 4);
    const std::string body = bytes.substr(at + 8, length);
    if (type == "IHDR") {
      png.width = big_endian_u32(body, 0);
      png.height = big_endian_u32(body, 4);
      EXPECT_EQ(static_cast<uint8_t>(body[8]), 8) << "bit depth";
      EXPECT_EQ(static_cast<uint8_t>(body[9]), 0) << "grayscale";
    } else if (type == "IDAT") {
      idat += body;
    }
    at += 12 + length;
  }
  std::vector<uint8_t> raw(static_cast<size_t>(png.height) * (png.width + 1));
  uLongf size = raw.size();
  EXPECT_EQ(uncompress(raw.data(), &size, reinterpret_cast<const Bytef*>(idat.data()), idat.size()), Z_OK);
  EXPECT_EQ(size, raw.size());
  for (uint32_t y = 0; y < png.height; ++y) {
    EXPECT_EQ(raw[y * (png.width + 1)], 0) << "filter of line " << y;
    png.pixels.insert(png.pixels.end(), raw.begin() + y * (png.width + 1) + 1, raw.begin() + (y + 1) * (png.width + 1));
  }
  return png;
}

uint8_t gray(float v) { return v <= 0.0f ? 0 : v >= 1.0f ? 255 : static_cast<uint8_t>(std::lround(v * 255.0f)); }

// 8 tiles of 28 x 28 per row, 2 pixels of mid-gray padding between and around them.
TEST(GenerativeCommand, InspectSamplesWritesTheModelsGridAsPng) {
  TempDir dir;
  const ZooData data = read_zoo(generative_zoo());
  struct Case {
    int64_t id;
    std::string family;
    int64_t images;
  };
  for (const Case& c : {Case{0, "vae", 16}, Case{4, "gan", 12}}) {
    SCOPED_TRACE(c.family);
    const std::string png_path = dir.file(c.family + ".png");
    const CommandResult result =
        run_genzoo("inspect " + shell_quote(generative_zoo()) + " --samples " + std::to_string(c.id) + " --png " + shell_quote(png_path));
    ASSERT_EQ(result.exit_code, 0) << result.output;
    EXPECT_NE(result.output.find("model " + std::to_string(c.id) + " (" + c.family + "), " + std::to_string(c.images) + " samples"),
              std::string::npos)
        << result.output;
    const Png png = decode_png(png_path);
    EXPECT_EQ(png.width, 8u * 28 + 9 * 2);
    EXPECT_EQ(png.height, 2u * 28 + 3 * 2);
    ASSERT_EQ(png.pixels.size(), static_cast<size_t>(png.width) * png.height);

    // Tile i holds image i of this model's stored samples.
    const FamilyWeights& w = data.weights.at(c.family);
    const auto row = std::find(w.model_ids.begin(), w.model_ids.end(), c.id) - w.model_ids.begin();
    const float* images = w.samples.data() + row * w.samples_per_model * kSampleImagePixels;
    int64_t mismatches = 0;
    for (int64_t i = 0; i < c.images; ++i) {
      const int64_t top = 2 + (i / 8) * 30, left = 2 + (i % 8) * 30;
      for (int64_t y = 0; y < 28; ++y)
        for (int64_t x = 0; x < 28; ++x)
          mismatches += png.pixels[(top + y) * png.width + left + x] != gray(images[i * 784 + y * 28 + x]);
    }
    EXPECT_EQ(mismatches, 0);
    EXPECT_EQ(png.pixels[0], 128) << "padding";
    EXPECT_EQ(png.pixels[(2 + 28) * png.width + 5], 128) << "padding between rows";
    if (c.images == 12) {  // the second row's last 4 cells are empty
      EXPECT_EQ(png.pixels[(32 + 14) * png.width + 2 + 7 * 30 + 14], 128);
    }
  }
}

TEST(GenerativeCommand, SamplesOfAModelWithoutThemIsAOneLineError) {
  TempDir dir;
  const std::string png = dir.file("out.png");
  // Model 0 of tests/data/jobs/tiny.toml is a linear_ae.
  expect_one_line_error(run_genzoo("inspect " + shell_quote(tiny_reference_run() + "/zoo.h5") + " --samples 0 --png " + shell_quote(png)),
                        {"model 0", "linear_ae", "has no stored samples"});
  EXPECT_FALSE(fs::exists(png));
  expect_one_line_error(run_genzoo("inspect " + shell_quote(generative_zoo()) + " --samples 99 --png " + shell_quote(png)),
                        {"no model 99"});
  expect_one_line_error(run_genzoo("inspect " + shell_quote(generative_zoo()) + " --samples 0"), {"--png"});
  EXPECT_FALSE(fs::exists(png));
}

// zoo.h5 stacks one layout per family: two gan tables of different latent widths cannot share it.
TEST(GenerativeCommand, PlanRefusesTwoGanTablesOfDifferentShapes) {
  TempDir dir;
  std::string text = read_text(generative_job_path());
  text += "\n[[family]]\nname = \"gan\"\nmodels = 2\nlatent = 32\nchannels = 4\nsteps = 10\ncondition = \"label\"\n";
  const std::string job = dir.file("two-gans.toml");
  write_text(job, text);
  expect_one_line_error(run_genzoo("plan " + shell_quote(job)), {job, "family[2]", "family[1]", "'gan'", "different parameter shapes"});
  // The same table with the same shape is fine.
  std::string same = read_text(generative_job_path());
  same += "\n[[family]]\nname = \"gan\"\nmodels = 2\nlatent = 16\nchannels = 4\nsteps = 10\ncondition = \"label\"\n";
  write_text(job, same);
  const CommandResult ok = run_genzoo("plan " + shell_quote(job));
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
}

// DESIGN.md section 4: a model's result does not depend on the rank that trained it.
TEST(GenerativeCommand, TwoRanksGiveTheOneProcessWeightsAndSamples2) {
  TempDir dir;
  const std::string run = dir.file("run");
  const CommandResult result = run_command(genzoo_mpi_command(
      2, "train " + shell_quote(generative_job_path()) + " --run " + shell_quote(run) + " --quiet", kMpiTimeout));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const ZooData one = read_zoo(generative_zoo());
  const ZooData two = read_zoo(run + "/zoo.h5");
  ASSERT_EQ(two.models.size(), one.models.size());
  for (size_t i = 0; i < one.models.size(); ++i) {
    const ModelRecord &a = one.models[i], &b = two.models[i];
    SCOPED_TRACE("model " + std::to_string(a.id));
    EXPECT_EQ(b.id, a.id);
    EXPECT_EQ(b.status, a.status);
    EXPECT_NEAR(b.final_loss, a.final_loss, 1e-5 * std::fabs(a.final_loss));
    ASSERT_EQ(b.metrics.size(), a.metrics.size());
    for (const auto& [name, value] : a.metrics) {
      ASSERT_TRUE(b.metrics.count(name)) << name;
      EXPECT_NEAR(b.metrics.at(name), value, 1e-5 * (1.0 + std::fabs(value))) << name;
    }
    EXPECT_TRUE(b.rank == 0 || b.rank == 1) << b.rank;
  }
  for (const auto& [family, w] : one.weights) {
    SCOPED_TRACE(family);
    const FamilyWeights& v = two.weights.at(family);
    EXPECT_EQ(v.model_ids, w.model_ids);
    ASSERT_EQ(v.data.size(), w.data.size());
    ASSERT_EQ(v.samples.size(), w.samples.size());
    ASSERT_FALSE(w.samples.empty());
    double weights = 0.0, samples = 0.0;
    for (size_t j = 0; j < w.data.size(); ++j) weights = std::max(weights, static_cast<double>(std::fabs(v.data[j] - w.data[j])));
    for (size_t j = 0; j < w.samples.size(); ++j) samples = std::max(samples, static_cast<double>(std::fabs(v.samples[j] - w.samples[j])));
    EXPECT_LE(weights, 1e-5);
    EXPECT_LE(samples, 1e-5);
  }
}

}  // namespace
}  // namespace genzoo::test
