#include "priors/students.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "common/error.h"
#include "common/rng.h"
#include "job/job.h"
#include "models/family.h"
#include "models/mlp.h"
#include "models/regressor.h"
#include "priors/code_basis.h"
#include "priors/orders.h"

namespace genzoo::priors {

namespace {

constexpr int64_t kFeatureMapPixels = 7 * 7;  // conv_ae's 2c x 7 x 7 features per channel

UnitKind kind(std::string name, UnitSlices slices, int64_t teacher, int64_t student, std::string leaving_bias = "") {
  return {std::move(name), std::move(slices), teacher, student, std::move(leaving_bias)};
}

// The channel kinds of conv_ae's decoder (models/conv_decoder.h), which vae's decoder = "conv" shares: fc's
// 2c output channels (7 x 7 features each) and convT1's c output channels.
void add_conv_decoder_kinds(std::vector<UnitKind>& kinds, int64_t teacher_channels, int64_t student_channels) {
  const int64_t c = teacher_channels, s = student_channels;
  kinds.push_back(kind("decoder fc channel",
                       {{{"decoder.fc.weight", 0, kFeatureMapPixels}, {"decoder.fc.bias", 0, kFeatureMapPixels}},
                        {{"decoder.convt1.weight", 0}}},
                       2 * c, 2 * s));
  kinds.push_back(kind("convt1 channel", {{{"decoder.convt1.weight", 1}, {"decoder.convt1.bias", 0}}, {{"decoder.convt2.weight", 0}}},
                       c, s));
}

// Seed 004's layered networks (mlp, regressor), which φ and ψ align layer by layer; none for the others.
std::optional<LayeredNetwork> layered_network(const FamilyConfig& config) {
  if (config.name == "mlp") return LayeredNetwork{mlp_widths(config), true, "relu"};
  if (config.name == "regressor") return LayeredNetwork{regressor_widths(config), false, "relu"};
  return std::nullopt;
}

}  // namespace

std::vector<UnitKind> unit_kinds(const FamilyConfig& teacher, const FamilyConfig& student) {
  if (teacher.name != student.name) {
    throw ReduceError("alignment: a " + teacher.name + " teacher cannot align to a " + student.name + " student");
  }
  const auto narrower = [&](const char* key, int64_t t, int64_t s) {
    if (s < 1 || s > t) {
      throw ReduceError(std::string("alignment: student ") + key + " = " + std::to_string(s) + " must be 1 to the teacher's " +
                        std::to_string(t) + " (" + teacher.name + ")");
    }
  };
  std::vector<UnitKind> kinds;
  if (teacher.name == "linear_ae") {
    narrower("latent", teacher.latent, student.latent);
    kinds.push_back(kind("code", {{{"encoder.weight", 0}, {"encoder.bias", 0}}, {{"decoder.weight", 1}}}, teacher.latent,
                         student.latent, "decoder.bias"));
  } else if (teacher.name == "conv_ae") {
    narrower("latent", teacher.latent, student.latent);
    narrower("channels", teacher.channels, student.channels);
    const int64_t c = teacher.channels, s = student.channels;
    kinds.push_back(kind("code", {{{"encoder.fc.weight", 0}, {"encoder.fc.bias", 0}}, {{"decoder.fc.weight", 1}}},
                         teacher.latent, student.latent, "decoder.fc.bias"));
    kinds.push_back(kind("conv1 channel", {{{"encoder.conv1.weight", 0}, {"encoder.conv1.bias", 0}}, {{"encoder.conv2.weight", 1}}},
                         c, s));
    kinds.push_back(kind("conv2 channel", {{{"encoder.conv2.weight", 0}, {"encoder.conv2.bias", 0}},
                                           {{"encoder.fc.weight", 1, kFeatureMapPixels}}},
                         2 * c, 2 * s));
    add_conv_decoder_kinds(kinds, c, s);
  } else if (teacher.name == "vae") {
    narrower("hidden", teacher.hidden, student.hidden);
    narrower("latent", teacher.latent, student.latent);
    if (student.decoder_layers != teacher.decoder_layers) {
      throw ReduceError("alignment: student decoder_layers = " + std::to_string(student.decoder_layers) + " differs from the teacher's " +
                        std::to_string(teacher.decoder_layers) + " (vae; alignment cannot change it)");
    }
    if (teacher.latent_density == "mixture" && student.latent != teacher.latent) {
      throw ReduceError("alignment: student latent = " + std::to_string(student.latent) + " differs from the teacher's " +
                        std::to_string(teacher.latent) + ", whose latent_density = \"mixture\" lives in that code space (vae)");
    }
    if (student.decoder != teacher.decoder) {
      throw ReduceError("alignment: student decoder = \"" + student.decoder + "\" differs from the teacher's \"" + teacher.decoder +
                        "\" (vae; alignment cannot change it)");
    }
    const bool conv = teacher.decoder == "conv";  // conv_ae's decoder: the hidden width is the encoder's alone
    if (conv) {
      narrower("channels", teacher.channels, student.channels);
    } else if (student.channels != teacher.channels) {
      throw ReduceError("alignment: student channels = " + std::to_string(student.channels) +
                        " on a vae with an MLP decoder, which has no channels (decoder = \"conv\" has)");
    }
    const bool deeper = teacher.decoder_layers == 2;  // decoder.fc2 between decoder.fc and decoder.out
    kinds.push_back(kind("encoder hidden", {{{"encoder.fc.weight", 0}, {"encoder.fc.bias", 0}},
                                            {{"encoder.mu.weight", 1}, {"encoder.logvar.weight", 1}}},
                         teacher.hidden, student.hidden));
    kinds.push_back(kind("latent", {{{"encoder.mu.weight", 0}, {"encoder.mu.bias", 0}, {"encoder.logvar.weight", 0},
                                     {"encoder.logvar.bias", 0}},
                                    {{"decoder.fc.weight", 1}}},
                         teacher.latent, student.latent));
    if (conv) {
      add_conv_decoder_kinds(kinds, teacher.channels, student.channels);
    } else {
      kinds.push_back(kind("decoder hidden", {{{"decoder.fc.weight", 0}, {"decoder.fc.bias", 0}},
                                              {{deeper ? "decoder.fc2.weight" : "decoder.out.weight", 1}}},
                           teacher.hidden, student.hidden));
    }
    if (deeper) {
      kinds.push_back(kind("decoder hidden 2", {{{"decoder.fc2.weight", 0}, {"decoder.fc2.bias", 0}}, {{"decoder.out.weight", 1}}},
                           teacher.hidden, student.hidden));
    }
  } else {
    throw ReduceError("alignment: family " + teacher.name + " has no alignable structure (linear_ae, conv_ae, vae, mlp, regressor have)");
  }
  return kinds;
}

void check_alignable(const FamilyConfig& teacher, const FamilyConfig& student) {
  const auto layered = layered_network(teacher);
  if (layered && teacher.name == student.name) {
    alignment_steps(layered->widths, layered_network(student)->widths);
  } else {
    unit_kinds(teacher, student);
  }
}

AlignedPrior align(const LowRankGaussian& teacher, const FamilyConfig& teacher_config, const FamilyConfig& student_config,
                   const std::string& order, uint64_t seed, std::vector<double> gradient_variance,
                   const CodeBasis* code_basis) {
  check_removal_order(order);
  const auto layered = layered_network(teacher_config);
  if (layered && teacher_config.name == student_config.name) {
    // Seed 004's own networks: φ down to the student's widths, ψ of the layers it lacks.
    return align_layered(teacher, *layered, *layered_network(student_config), order, seed, std::move(gradient_variance));
  }
  AlignedPrior out{teacher, find_family(teacher_config.name).layout(teacher_config), {}};
  Rng rng(seed);
  for (const UnitKind& unit : unit_kinds(teacher_config, student_config)) {
    const bool principal = code_basis && !unit.leaving_bias.empty() && unit.student_count < unit.teacher_count;
    if (principal) {
      // Weights mixed by the rotation no longer carry their own gradient variances.
      if (!gradient_variance.empty()) throw ReduceError("alignment: the principal code basis cannot follow gradient_covariance");
      out.gaussian = rotate_code(out.gaussian, out.layout, unit, *code_basis);
      out.steps.push_back("principal(" + unit.name + ")");
    }
    for (int64_t count = unit.teacher_count; count > unit.student_count; --count) {
      // The principal basis is ordered by variance: the last component is the weakest.
      const int64_t j = pick_unit(principal ? "last" : order, out.gaussian, out.layout, unit.slices, count, rng,
                                  gradient_variance.empty() ? nullptr : &gradient_variance);
      AlignedGaussian next = remove_unit(out.gaussian, out.layout, unit.slices, j);
      if (!gradient_variance.empty()) gradient_variance = kept_values(gradient_variance, next);  // follow what φ keeps
      out.gaussian = std::move(next.gaussian);
      out.layout = std::move(next.layout);
      out.steps.push_back("phi(" + unit.name + ", " + std::to_string(j) + ")");
    }
  }
  const Layout expected = find_family(student_config.name).layout(student_config);
  bool same = expected.size() == out.layout.size();
  for (size_t i = 0; same && i < expected.size(); ++i) same = expected[i].name == out.layout[i].name && expected[i].shape == out.layout[i].shape;
  if (!same) {
    throw ReduceError("alignment: the " + student_config.name +
                      " student differs from its teacher in more than the alignable keys (the layouts do not match)");
  }
  out.layout = expected;
  return out;
}

}  // namespace genzoo::priors
