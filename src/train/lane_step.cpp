#include "train/lane_step.h"

#include <algorithm>

#include "data/dataset.h"
#include "data/image.h"
#include "kernels/linear.h"
#include "train/data_stream.h"

namespace genzoo {

using conv_kernels::Grid;
using conv_kernels::kLanes;

LaneLayout::LaneLayout(const Layout& layout, int64_t code, const std::vector<CodeTensor>& code_tensors)
    : layout_(layout), code_(code), code_width_((code + kLanes - 1) / kLanes * kLanes), code_tensors_(code_tensors),
      aligned_([&] {
        Layout padded = layout;
        for (const CodeTensor& tensor : code_tensors) {
          ParamLayout& param = padded[&find_param(layout, tensor.name) - layout.data()];
          const int64_t features = tensor.form == Form::kCodeBias ? 1
                                   : tensor.form == Form::kCodeColumns ? param.shape.at(0)
                                                                       : param.shape.at(1);
          param.shape = tensor.form == Form::kCodeBias ? std::vector<int64_t>{code_width_}
                                                       : std::vector<int64_t>{features, code_width_};
        }
        return AlignedLayout(padded);
      }()) {}

namespace {

const LaneLayout::CodeTensor* find_code_tensor(const std::vector<LaneLayout::CodeTensor>& tensors, const std::string& name) {
  for (const auto& tensor : tensors) {
    if (tensor.name == name) return &tensor;
  }
  return nullptr;
}

}  // namespace

void LaneLayout::to_internal(const float* canonical, float* internal) const {
  std::fill(internal, internal + size(), 0.0f);
  for (const ParamLayout& param : layout_) {
    const float* in = canonical + param.offset;
    float* out = internal + offset(param.name);
    const CodeTensor* code_tensor = find_code_tensor(code_tensors_, param.name);
    if (!code_tensor || code_tensor->form == Form::kCodeBias) {
      std::copy_n(in, param.numel(), out);
    } else if (code_tensor->form == Form::kCodeColumns) {
      kernels::pad_columns(in, param.shape.at(0), code_, code_width_, out);
    } else {
      const int64_t features = param.shape.at(1);
      std::vector<float> transposed(param.numel());
      kernels::transpose(in, code_, features, transposed.data());
      kernels::pad_columns(transposed.data(), features, code_, code_width_, out);
    }
  }
}

void LaneLayout::to_canonical(const float* internal, float* canonical) const {
  for (const ParamLayout& param : layout_) {
    const float* in = internal + offset(param.name);
    float* out = canonical + param.offset;
    const CodeTensor* code_tensor = find_code_tensor(code_tensors_, param.name);
    if (!code_tensor || code_tensor->form == Form::kCodeBias) {
      std::copy_n(in, param.numel(), out);
    } else if (code_tensor->form == Form::kCodeColumns) {
      kernels::unpad_columns(in, param.shape.at(0), code_width_, code_, out);
    } else {
      const int64_t features = param.shape.at(1);
      std::vector<float> transposed(param.numel());
      kernels::unpad_columns(in, features, code_width_, code_, transposed.data());
      kernels::transpose(transposed.data(), features, code_, out);
    }
  }
}

void lanes_from_rows(const float* rows, int64_t count, int64_t width, int64_t lane_rows, float* lanes) {
  std::fill_n(lanes, lane_rows * kLanes, 0.0f);
  for (int64_t b = 0; b < count; ++b) {
    for (int64_t j = 0; j < width; ++j) lanes[j * kLanes + b] = rows[b * width + j];
  }
}

void rows_from_lanes(const float* lanes, int64_t count, int64_t width, float* rows) {
  for (int64_t b = 0; b < count; ++b) {
    for (int64_t j = 0; j < width; ++j) rows[b * width + j] = lanes[j * kLanes + b];
  }
}

LaneScratch::LaneScratch(int64_t params) : gradient(params), images(kLanes * kImagePixels) {}

void LaneScratch::add(Grid& grid, int64_t channels, int64_t side) {
  grid.channels = channels, grid.side = side;
  grids_.push_back(&grid);
}

float* LaneScratch::place(int64_t extra) {
  int64_t total = extra;
  for (const Grid* grid : grids_) total += grid->floats();
  storage = AlignedFloats(total);
  float* next = storage.data();
  for (Grid* grid : grids_) grid->data = next, next += grid->floats();
  return next;
}

void LaneScratch::load_block(const ImageSet& train, const int64_t* indices, int64_t count, const Grid& grid) {
  gather_images(train, indices, count, images.data());
  std::fill(images.begin() + count * kImagePixels, images.end(), 0.0f);
  conv_kernels::load_images(images.data(), grid);
}

int64_t LaneScratch::bytes() const {
  return static_cast<int64_t>(sizeof(float) * (storage.size() + gradient.size() + images.size()));
}

}  // namespace genzoo
