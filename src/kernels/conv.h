// Kernels for conv_ae's, gan's and vae's conv decoder's stride-2, 4x4, padding-1 convolutions with 16 samples in the vector lanes.
// Every activation is a Grid: [channels][side + 2][side + 2][16] floats, a zero border of one pixel
// around each channel plane (so no kernel tests bounds) and one 16-sample lane block per pixel: one
// 64-byte cache line, one register on AVX-512, two on AVX2, four on SSE4/NEON. One source compiled per
// instruction set by Highway and dispatched at run time (kernels/isa.h); tiles are sized to the
// target's register file. Weights keep LibTorch's layouts; the backward passes reuse the forward
// kernels (a convolution's input gradient is a transposed convolution with the same weights, and
// the other way round). A batch that is not a whole number of blocks fills its last block partly:
// the loss kernels take the count of valid samples and give the others zero gradient.
#pragma once

#include <cstdint>

namespace genzoo::conv_kernels {

// Samples per lane block: grids hold this many samples side by side.
constexpr int64_t kLanes = 16;
constexpr int64_t kTaps = 4;  // kernel side

struct Grid {
  float* data = nullptr;
  int64_t channels = 0, side = 0;
  int64_t padded() const { return side + 2; }
  int64_t floats() const { return channels * padded() * padded() * kLanes; }
  // The lane vector of pixel (y, x) of a channel; y, x from -1 to side (the border).
  float* at(int64_t channel, int64_t y, int64_t x) const {
    return data + ((channel * padded() + y + 1) * padded() + x + 1) * kLanes;
  }
};

// What a kernel does to its outputs before storing them.
enum class Epilogue {
  kNone,
  kRelu,    // max(0, .)
  kMaskBy,  // keep where the reference grid is positive: the gradient through a ReLU output
  kLeakyRelu,    // max(kLeakySlope x, x)
  kLeakyMaskBy,  // x where the reference grid is positive, else kLeakySlope x: through a leaky ReLU
};

// The negative slope of the leaky ReLU (DCGAN's discriminator).
constexpr float kLeakySlope = 0.2f;

// out(co, o) = bias[co] + sum_ci,k weight[co][ci][ky][kx] in(ci, 2o - 1 + k): LibTorch's conv2d
// (stride 2, padding 1). in.side = 2 out.side. bias may be null. Writes out's interior only.
void conv(const Grid& in, const float* weight, const float* bias, const Grid& out, Epilogue epilogue,
          const Grid* mask = nullptr);

// out(co, o) = bias[co] + sum over ci, i, k with 2i - 1 + k = o of weight[ci][co][ky][kx] in(ci, i):
// LibTorch's conv_transpose2d (stride 2, padding 1), weight [in.channels][out.channels][4][4].
// out.side = 2 in.side. bias may be null. Overwrites out's interior.
void conv_transposed(const Grid& in, const float* weight, const float* bias, const Grid& out, Epilogue epilogue,
                     const Grid* mask = nullptr);

// grad[s][l][ky][kx] += sum over samples and small pixels o of small(s, o) large(l, 2o - 1 + k).
// A convolution's weight gradient is (small = output gradient, large = input); a transposed
// convolution's is (small = input, large = output gradient). large.side = 2 small.side.
void weight_grad(const Grid& small, const Grid& large, float* grad);

// sums[c] += sum over samples and pixels of grid(c, .): a bias gradient.
void channel_sums(const Grid& grid, float* sums);

// sums[f] += sum over samples of grid(f) for every feature f = (c * side + y) * side + x: the bias
// gradient of a dense layer into the grid.
void feature_sums(const Grid& grid, float* sums);

// narrow[j] = bias[j] + sum_f weight[f][j] grid(f) for j < width: a dense layer from a grid's
// features (f = (c * side + y) * side + x, LibTorch's flattening order) to `width` outputs (a
// multiple of kLanes: steps pad narrower codes with zero units). narrow holds width lane blocks
// [width][kLanes], weight is [features][width]. bias may be null.
void dense_to_narrow(const Grid& grid, const float* weight, const float* bias, float* narrow, int64_t width);

// grid(f) = epilogue(bias[f] + sum_j weight[f][j] narrow[j]): the dense layer from `width` inputs to a
// grid's features. bias may be null.
void dense_from_narrow(const float* narrow, const float* weight, const float* bias, const Grid& grid,
                       Epilogue epilogue, int64_t width, const Grid* mask = nullptr);

// grad[f][j] += sum over samples of grid(f) narrow[j]: the weight gradient of either dense layer.
void dense_weight_grad(const Grid& grid, const float* narrow, float* grad, int64_t width);

// Sigmoid output and mean-squared-error loss against target over the first `valid` samples: out =
// sigmoid(logits), grad(p) = scale (out - target) out (1 - out) on the interior (the gradient with
// respect to the logits), zero for the other samples. Returns the sum of squared errors.
double sigmoid_squared_error(const Grid& logits, const Grid& target, float scale, const Grid& grad,
                             int64_t valid = kLanes);

// Back through a convolution (conv_backward) or a transposed one: adds the weight and bias
// gradients (skipped when d_weight is null), and unless d_input is null writes the input's
// gradient, passed through input_epilogue with the input as its mask (kMaskBy after a ReLU,
// kLeakyMaskBy after a leaky one, kNone for the network's input).
void conv_backward(const Grid& input, const Grid& d_output, const float* weight, float* d_weight, float* d_bias,
                   const Grid* d_input, Epilogue input_epilogue);
void conv_transposed_backward(const Grid& input, const Grid& d_output, const float* weight, float* d_weight,
                              float* d_bias, const Grid* d_input, Epilogue input_epilogue);

// Channel 0 of grid from kLanes images of grid.side x grid.side floats each (image b in lane b).
void load_images(const float* images, const Grid& grid);

// out = sigmoid(logits) on the interior.
void sigmoid(const Grid& logits, const Grid& out);

// d_logits = d_out out (1 - out) on the interior, out = sigmoid(logits): back through a sigmoid.
void sigmoid_backward(const Grid& out, const Grid& d_out, const Grid& d_logits);

// The dense layer from a grid's features to one output per sample: lanes = bias + sum_f weight[f]
// grid(f). Its input gradient is dense_from_one, its weight gradient dense_one_weight_grad.
void dense_to_one(const Grid& grid, const float* weight, float bias, float* lanes);

// grid(f) = epilogue(weight[f] lanes).
void dense_from_one(const float* lanes, const float* weight, const Grid& grid, Epilogue epilogue,
                    const Grid* mask = nullptr);

// grad[f] += sum over samples of grid(f) lanes.
void dense_one_weight_grad(const Grid& grid, const float* lanes, float* grad);

// The minibatch standard deviation's statistics over D's features (gan, d_minibatch = "stddev"), on a
// block's first `valid` lanes (the others hold padding and count for nothing): sums[f] += sum over those
// lanes of grid(f), and sums[f] += sum over them of (grid(f) - mean[f])^2.
void masked_feature_sums(const Grid& grid, int64_t valid, float* sums);
void centered_square_sums(const Grid& grid, int64_t valid, const float* mean, float* sums);

// d(f) += g where g = scale factor[f] (features(f) - mean[f]) passed back through the leaky ReLU whose
// output `features` is (g where features(f) > 0, else kLeakySlope g), on the first `valid` lanes: the
// minibatch standard deviation's gradient into each feature.
void add_leaky_centered(const Grid& features, const float* mean, const float* factor, float scale, const Grid& d,
                        int64_t valid);

// sums[j] += sum over lanes of vectors[j] for j < count: horizontal sums, four at a time.
void add_lane_sums(const float* vectors, float* sums, int64_t count = kLanes);

}  // namespace genzoo::conv_kernels
