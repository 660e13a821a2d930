// Hand-written CPU training of linear_ae (no autograd): forward, backward and Adam over the
// chunk's models with the register-blocked kernels of linear_kernels.h.
#pragma once

#include <vector>

#include "train/trainer.h"

namespace genzoo {

struct ImageSet;

bool fast_linear_ae_supports(const FamilyConfig& config);
RawTrainResult train_linear_ae_fast(const FamilyConfig& config, const std::vector<const ModelSpec*>& specs,
                                    const ImageSet& train, const TrainOptions& options);

}  // namespace genzoo
