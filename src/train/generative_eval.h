// Evaluation of generative families (vae, gan) after training: sample grids from fixed latent seeds,
// FID against the model's own class mixture, mode coverage, the JS estimate (gan), collapse status, and
// the same figures for real images (real_*) and for a vae's reconstructions of them (reconstruction_*).
#pragma once

#include <vector>

#include "train/trainer.h"

namespace genzoo {

void evaluate_generative(const FamilyConfig& config, const std::vector<const ModelSpec*>& specs,
                         const std::vector<float>& weights, const EvalData& data, const TrainOptions& options,
                         std::vector<TrainedModel>& out);

}  // namespace genzoo
