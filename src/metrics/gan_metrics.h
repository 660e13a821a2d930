// GAN quality figures that need no feature statistics: the Jensen–Shannon estimate from the
// discriminator's objective, and mode coverage from the classes the feature net sees in generated samples.
#pragma once

#include <cstdint>
#include <vector>

namespace genzoo {

// Jensen–Shannon divergence between data and generator distributions, estimated from the
// discriminator objective (seed 001): for the optimal D, L(D, G) = -2 log 2 + 2 JS(p_data || p_G), so
//   JS ≈ (L(D, G) + 2 log 2) / 2.
// Sign convention: objective is L(D, G) = E_x log D(x) + E_z log(1 - D(G(z))), the value the
// discriminator MAXIMIZES (always <= 0; -2 log 2 when D cannot tell real from fake) — not the BCE loss
// that training minimizes, which is its negative (use js_from_discriminator_bce for that).
// A non-optimal D underestimates L, so the estimate is a lower bound; it is clamped to [0, log 2]
// (natural log, nats). NaN stays NaN.
double js_from_discriminator_loss(double objective);

// The same from the discriminator's BCE loss: BCE(D(x), 1) + BCE(D(G(z)), 0), each averaged over its
// batch, which equals -L(D, G).
double js_from_discriminator_bce(double bce_loss);

// How well generated samples cover a model's class mixture (a mode-collapse indicator).
struct ModeCoverage {
  // Model classes whose share of the generated samples is at least min_share.
  int64_t classes_found = 0;
  // Model classes whose target proportion is at least min_share: what classes_found would be for a
  // generator that reproduces the mixture. classes_found < classes_expected indicates mode collapse.
  int64_t classes_expected = 0;
  // [K + 1]: share of generated samples predicted as model class k (in the order of model_classes);
  // the last bin holds samples predicted as a class outside the model's mixture. Sums to 1.
  std::vector<double> histogram;
  // Total variation distance 1/2 sum |histogram - proportions| (the "other" bin counts against a
  // target of 0), in [0, 1].
  double total_variation = 0.0;
};

// predicted: feature-net class of every generated sample; model_classes: the model's K classes
// (distinct); proportions: their target proportions (non-negative, normalized here by their sum).
// Throws genzoo::Error when predicted is empty, the sizes differ, classes repeat or proportions
// are negative or sum to 0.
ModeCoverage mode_coverage(const std::vector<int64_t>& predicted, const std::vector<int64_t>& model_classes,
                           const std::vector<double>& proportions, double min_share = 0.05);

}  // namespace genzoo
