// Hand-written CPU training step of conv_ae (no autograd): the stride-2 convolutions, dense layers
// and their gradients with the lane-vector kernels of conv_kernels.h, 16 samples at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "train/conv_kernels.h"
#include "train/fast_trainer.h"

namespace genzoo {

// Work buffers of the lane-vector steps (conv_ae, gan): grids and further floats in one aligned
// buffer, the gradient, and the gathered images of one 16-sample lane block.
struct LaneScratch : StepScratch {
  explicit LaneScratch(int64_t params);
  // Gives grid its shape; place() gives it its storage.
  void add(conv_kernels::Grid& grid, int64_t channels, int64_t side);
  // Allocates every grid added and `extra` floats after them (returned).
  float* place(int64_t extra);
  int64_t bytes() const override;
  float* grads() override { return gradient.data(); }

  AlignedFloats storage, gradient;
  std::vector<float> images;

 private:
  std::vector<conv_kernels::Grid*> grids_;
};

// Null unless config is conv_ae with a 16-wide code, a batch of whole 16-sample lane blocks and a
// regularizer the kernels implement (none, sparse).
std::unique_ptr<FastStep> make_conv_ae_step(const FamilyConfig& config);

}  // namespace genzoo
