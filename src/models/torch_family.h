// LibTorch side of a model family: stacked parameters [M, ...] for M models trained at once.
#pragma once

#include <torch/torch.h>

#include <array>
#include <map>
#include <string>
#include <vector>

#include "models/family.h"

namespace genzoo {

struct FamilyConfig;
struct ImageSet;

// Named views [M, shape...] into a flat parameter tensor [M, P].
using StackedParams = std::map<std::string, torch::Tensor>;
StackedParams view_params(const torch::Tensor& flat, const Layout& layout);

// What a loss evaluation needs besides parameters and inputs.
struct LossContext {
  const FamilyConfig* config = nullptr;
  bool training = true;   // regularizers and noise only while training
  // Per-model generators for stochastic regularizers (denoising noise, contractive probes); size M.
  std::vector<torch::Generator>* generators = nullptr;
  // [M, B] dataset class labels (long) of the inputs: set for classifying families.
  torch::Tensor labels{};
};

class TorchFamily {
 public:
  virtual ~TorchFamily() = default;
  // Per-model loss [M] on inputs x [M, B, 784] (pixels in [0, 1]); differentiable w.r.t. params.
  // The reported loss is the reconstruction objective; regularizer terms are added when training.
  virtual torch::Tensor loss(const StackedParams& params, const torch::Tensor& x, const LossContext& ctx) const = 0;
  // Autoencoding families: reconstructions [M, B, 784] of inputs x [M, B, 784] (vae: the decoder's mean
  // at the posterior mean), without noise or regularizers.
  virtual bool reconstructs() const { return false; }
  virtual torch::Tensor reconstruct(const StackedParams& params, const torch::Tensor& x, const FamilyConfig& config) const {
    return {};
  }
  // Per-model reconstruction error without regularizers: [M, B] mean squared error over pixels (for
  // evaluation). Adversarial families, which do not reconstruct, return the discriminator's loss on real x.
  virtual torch::Tensor reconstruction_error(const StackedParams& params, const torch::Tensor& x,
                                             const FamilyConfig& config) const {
    return (reconstruct(params, x, config) - x).pow(2).mean(2);
  }

  // Classifying families (mlp) map inputs x [M, B, 784] to logits [M, B, 10] over the dataset's classes
  // and learn from the inputs' labels (LossContext::labels).
  virtual bool classifies() const { return false; }
  virtual torch::Tensor logits(const StackedParams& params, const torch::Tensor& x) const { return {}; }

  // The per-sample evaluation loss [M, B] that zoo.h5 stores as final_loss and test_loss, given the
  // inputs' dataset labels [M, B] (long): classifiers' cross-entropy in nats, the others'
  // reconstruction_error (labels unused).
  virtual torch::Tensor sample_loss(const StackedParams& params, const torch::Tensor& x, const torch::Tensor& labels,
                                    const FamilyConfig& config) const {
    return reconstruction_error(params, x, config);
  }
  // Further per-sample evaluation figures [M, B] by name (vae: "elbo", mlp: "accuracy"); stored as metrics
  // "<name>_train" (mean over the model's samples) and "<name>_test" (class-weighted test mean).
  virtual std::map<std::string, torch::Tensor> evaluation_terms(const StackedParams& params, const torch::Tensor& x,
                                                                const torch::Tensor& labels, const FamilyConfig& config) const {
    return {};
  }

  // Regressing families (regressor) read rows x [M, B, d + 1] whose last column is the target y and
  // predict it from the first d: [M, B, 1].
  virtual bool regresses() const { return false; }
  virtual torch::Tensor predict(const StackedParams& params, const torch::Tensor& x) const { return {}; }

  // Families with an encoder map inputs x [M, B, 784] to codes [M, B, k] (vae: the posterior mean);
  // the reduce stage's latent_mean vectorization averages them over fixed probe images.
  virtual bool has_encoder() const { return false; }
  virtual torch::Tensor codes(const StackedParams& params, const torch::Tensor& x) const { return {}; }

  // Generative families (vae, gan) map codes z [M, S, code_width] of standard normals (and, when
  // class-conditional, one-hot labels [M, S, K]) to images [M, S, 784] in [0, 1].
  virtual bool generative() const { return false; }
  // Standard normals per generated image: the latent width, or more where the family draws its codes
  // through a stored density (vae, latent_density = "mixture": one more picks the component).
  virtual int64_t code_width(const FamilyConfig& config) const;
  // Families whose weights hold something fitted to the trained model (vae: latent_density = "mixture")
  // say so here, and fill it in fit_after_training: weights are one model's canonical parameters (on the
  // CPU), checkpoints its checkpoint_count stored checkpoints (each laid out as weights), x [1, n, 784] its
  // training images, seed its own. Models are fitted concurrently, each call on its own model.
  virtual bool fits_after_training(const FamilyConfig& config) const { return false; }
  virtual void fit_after_training(float* weights, float* checkpoints, int64_t checkpoint_count, const Layout& layout,
                                  const torch::Tensor& x, uint64_t seed, const FamilyConfig& config) const {}
  virtual torch::Tensor generate(const StackedParams& params, const torch::Tensor& z, const torch::Tensor& labels,
                                 const FamilyConfig& config) const {
    return {};
  }

  // Adversarial families (gan) train with alternating discriminator and generator steps instead of
  // loss(). Their layout holds every generator parameter before the discriminator's.
  virtual bool adversarial() const { return false; }
  // -[log D(x) + log(1 - D(G(z)))] per model [M] (the generator's output is detached). real_augment and
  // fake_augment: D's real and fake inputs' augmentation draws [M, B, ...] (discriminator_augmentation),
  // undefined without augmentation.
  virtual torch::Tensor discriminator_loss(const StackedParams& params, const torch::Tensor& x,
                                           const torch::Tensor& real_labels, const torch::Tensor& z,
                                           const torch::Tensor& fake_labels, const torch::Tensor& real_augment,
                                           const torch::Tensor& fake_augment, const FamilyConfig& config) const {
    return {};
  }
  // One model's draws for augmenting a batch of D's inputs, from its generator (gan: d_augment); undefined
  // when D's inputs are not augmented.
  virtual torch::Tensor discriminator_augmentation(int64_t batch, torch::Generator& generator,
                                                   const FamilyConfig& config) const {
    return {};
  }
  // Non-saturating -log D(G(z)) per model [M].
  virtual torch::Tensor generator_loss(const StackedParams& params, const torch::Tensor& z,
                                       const torch::Tensor& fake_labels, const torch::Tensor& fake_augment,
                                       const FamilyConfig& config) const {
    return {};
  }
};

// Dataset class labels [n] (long) of the images `indices` of `images`.
torch::Tensor labels_of(const ImageSet& images, const int64_t* indices, int64_t n);

// Number of leading flat parameters with role "generator" (the rest belong to the discriminator).
int64_t generator_param_count(const Layout& layout);
// The leading canonical parameters FamilyConfig::ema_decay averages: a gan's generator (its discriminator
// is stored as trained, it judged the raw generator), every trained parameter of other families (not a
// vae's latent density, fitted after training).
int64_t averaged_param_count(const Layout& layout);

// A model's own noise generator (codes, reparameterization, corruption), seeded from its spec's seed.
torch::Generator noise_generator(uint64_t model_seed);

// Class slots [count] (long, 0..K-1) drawn with replacement from a model's proportions [K] with its
// noise generator: the fake images' labels of a class-conditional GAN, the same draws on both paths.
torch::Tensor sample_class_slots(const std::vector<double>& proportions, int64_t count, torch::Generator& generator);

// The class slot (0..K-1) of each dataset label (a byte), -1 for a label that has none: the inverse of
// class_labels, the dataset label of each slot (TrainOptions::class_labels). The real images' labels
// of a class-conditional GAN on both paths; the same for every model of a chunk.
using ClassSlotTable = std::array<int, 256>;
ClassSlotTable class_slot_table(const std::vector<int64_t>& class_labels);

// Fills one model's flat parameters (canonical layout) with PyTorch-style default init:
// weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn from the portable Rng with seed.
void init_flat_params(float* flat, const Layout& layout, uint64_t seed);

// Applies denoising corruption (gaussian or mask) to x [M, B, D] with each model's own generator.
torch::Tensor corrupt_inputs(const torch::Tensor& x, const FamilyConfig& config, std::vector<torch::Generator>& generators);

}  // namespace genzoo
