// What the lane-block CPU steps (conv_ae, gan, vae's conv decoder) share: their internal parameter layout and their work
// buffers of 16-sample lane blocks (kernels/conv.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/conv.h"
#include "train/fast_trainer.h"

namespace genzoo {

struct ImageSet;

// The internal parameter layout of the lane-block steps: AlignedLayout (every tensor on a vector
// boundary) with the code dimension of the dense layers padded to whole lane blocks: the extra code
// units have zero weights and biases, receive zero gradients and so stay zero, which lets every
// kernel work on whole blocks whatever the code width. Code matrices are stored [features][code_width].
class LaneLayout {
 public:
  enum class Form {
    kCodeBias,         // [k] -> [code_width]
    kCodeColumns,      // [features, k] -> [features][code_width]
    kCodeRowsTransposed,  // [k, features] -> [features][code_width]
  };
  struct CodeTensor {
    std::string name;
    Form form;
  };
  LaneLayout(const Layout& layout, int64_t code, const std::vector<CodeTensor>& code_tensors);
  int64_t offset(const std::string& name) const { return aligned_.offset(name); }
  int64_t size() const { return aligned_.size(); }
  int64_t code_width() const { return code_width_; }
  void to_internal(const float* canonical, float* internal) const;
  void to_canonical(const float* internal, float* canonical) const;

 private:
  Layout layout_;  // canonical
  int64_t code_, code_width_;
  std::vector<CodeTensor> code_tensors_;
  AlignedLayout aligned_;  // of the padded shapes
};

// lanes [lane_rows][kLanes] from rows [count][width] (count <= kLanes, width <= lane_rows): lanes[j][b] =
// rows[b][j], zero in every other lane and row (a partial block's empty lanes, the padded code units).
void lanes_from_rows(const float* rows, int64_t count, int64_t width, int64_t lane_rows, float* lanes);
// And back: rows[b][j] = lanes[j][b] for b < count, j < width.
void rows_from_lanes(const float* lanes, int64_t count, int64_t width, float* rows);

// Work buffers of the lane-vector steps (conv_ae, gan; vae keeps its own): grids and further floats in one aligned
// buffer, the gradient, and the gathered images of one 16-sample lane block.
struct LaneScratch : StepScratch {
  explicit LaneScratch(int64_t params);
  // Gives grid its shape; place() gives it its storage.
  void add(conv_kernels::Grid& grid, int64_t channels, int64_t side);
  // Allocates every grid added and `extra` floats after them (returned).
  float* place(int64_t extra);
  // Gathers `count` (at most kLanes) training images into grid channel 0, zeros in the other lanes.
  void load_block(const ImageSet& train, const int64_t* indices, int64_t count, const conv_kernels::Grid& grid);
  int64_t bytes() const override;
  float* grads() override { return gradient.data(); }

  AlignedFloats storage, gradient;
  std::vector<float> images;

 private:
  std::vector<conv_kernels::Grid*> grids_;
};

}  // namespace genzoo
