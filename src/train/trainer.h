// Trains one chunk of models of one family together (model-batched). A model's result depends only
// on its own spec: its data stream, init, noise and optimizer state are its own.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace genzoo {

struct Dataset;
struct FeatureNetRecord;
struct FamilyConfig;
struct ModelSpec;

struct TrainOptions {
  std::string device = "cpu";      // a resolved LibTorch device: "cpu", "cuda:0", ...
  // auto: hand-written CPU kernels where a family has them and the CPU has wide FMA vectors (AVX2,
  // AVX-512); fast: those kernels on any instruction set; torch: LibTorch only.
  std::string kernels = "auto";
  int32_t rank = 0;                // recorded in the models table
  std::function<void(int64_t steps_done)> on_step;   // progress within the chunk (may be empty)
  const std::atomic<bool>* stop = nullptr;           // set asynchronously to abandon the chunk
  int64_t fault_model = -1;        // test-only: throw TrainError when this model id is trained
  std::vector<int64_t> class_labels;  // dataset label of each class slot (class-conditional families)
};

// The test data a chunk is evaluated on: test-split indices of every selected class slot.
struct EvalData {
  const Dataset* dataset = nullptr;
  std::vector<std::vector<int64_t>> test_pools;  // [K][...] indices into dataset->test
  const FeatureNetRecord* featurenet = nullptr;  // for FID and mode coverage of generative families
};

struct TrainedModel {
  int64_t id = 0;
  std::string status;               // ok | collapsed | garbage (final loss above the trivial predictor's) | diverged
  double final_loss = 0.0;          // reconstruction loss over all of the model's training samples
  double test_loss = 0.0;           // over the selected classes' test images, weighted by its proportions
  double train_seconds = 0.0;       // the chunk's training time divided among its models
  // What trained it: the hand-written kernels' instruction set ("AVX3", "AVX2", ...; kernels/isa.h),
  // "torch" for LibTorch on the CPU, or the LibTorch device ("cuda:0"). Results differ in the last bits.
  std::string kernel_isa;
  std::vector<float> weights;       // [P] canonical layout
  std::vector<float> checkpoints;   // [T, P]
  std::vector<float> samples;       // generative families: [S, 784] images from fixed latent seeds
  std::map<std::string, double> metrics;
};

// Weights of a chunk straight out of training, before evaluation.
struct RawTrainResult {
  std::vector<float> weights;        // [M, P] canonical layout
  std::vector<float> checkpoints;    // [M, T, P]
  std::vector<bool> diverged;        // [M]
  std::vector<std::map<std::string, double>> metrics;  // [M] or empty: figures known from training (gan: d_loss)
};

// Thrown through when options.stop is set mid-chunk.
struct ChunkAbandoned {};

std::vector<TrainedModel> train_chunk(const FamilyConfig& config, const std::vector<const ModelSpec*>& specs,
                                      const EvalData& data, const TrainOptions& options);

// Training only (no evaluation): what benchmarks time.
RawTrainResult train_weights(const FamilyConfig& config, const std::vector<const ModelSpec*>& specs,
                             const Dataset& dataset, const TrainOptions& options);

// The GAN's d_loss metric averages the discriminator loss over steps [start, steps]: the last tenth
// of training (at least one step). Returns start.
int64_t d_loss_tail_start(int64_t steps);

// Whether train_chunk takes the hand-written CPU path for this family configuration.
bool uses_fast_kernels(const FamilyConfig& config, const TrainOptions& options);

// TrainedModel::kernel_isa for this configuration under these options.
std::string kernel_isa_for(const FamilyConfig& config, const TrainOptions& options);

}  // namespace genzoo
