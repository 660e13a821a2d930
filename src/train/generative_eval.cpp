#include "train/generative_eval.h"

#include <torch/torch.h>

#include <cmath>

#include "common/rng.h"
#include "data/dataset.h"
#include "data/feature_net.h"
#include "job/job.h"
#include "metrics/frechet.h"
#include "metrics/gan_metrics.h"
#include "models/torch_family.h"
#include "plan/plan.h"
#include "store/zoo.h"
#include "train/data_stream.h"

namespace genzoo {

namespace {

constexpr uint64_t kGridSeed = 0x67726964ULL;  // one set of codes for every model: grids compare
// Generated images whose pixel-wise spread is below this share of real images' spread have collapsed
// onto (nearly) one image. Undertrained but varied generators measure ~0.2 and are not flagged.
constexpr double kCollapseDiversity = 0.1;

// Mean over pixels of the standard deviation across images [n, 784].
double diversity(const torch::Tensor& images) { return images.std(0).mean().item<double>(); }

// One-hot slots [n, K] cycling through the classes (grids) or drawn from proportions (FID).
torch::Tensor cycling_labels(int64_t n, int64_t classes) {
  auto labels = torch::zeros({n, classes});
  for (int64_t i = 0; i < n; ++i) labels[i][i % classes] = 1.0f;
  return labels;
}

// Test images of the model's mixture: counts apportioned by its proportions, drawn with its seed.
std::vector<float> reference_images(const ModelSpec& spec, const EvalData& data, int64_t n) {
  const auto counts = apportion(n, spec.proportions);
  Rng rng(mix_seed(spec.seed, 0x72656673ULL));
  std::vector<int64_t> indices;
  for (size_t slot = 0; slot < counts.size(); ++slot) {
    const auto& pool = data.test_pools[slot];
    for (int64_t i = 0; i < counts[slot]; ++i) indices.push_back(pool[rng.uniform_int(pool.size())]);
  }
  std::vector<float> images(indices.size() * kSampleImagePixels);
  gather_images(data.dataset->test, indices.data(), static_cast<int64_t>(indices.size()), images.data());
  return images;
}

// Up to n of the model's own training images (a seeded draw without replacement).
std::vector<float> real_images(const ModelSpec& spec, const EvalData& data, int64_t n) {
  Rng rng(mix_seed(spec.seed, 0x7265616cULL));  // "real"
  const auto& pool = spec.sample_indices;
  const int64_t count = std::min<int64_t>(n, static_cast<int64_t>(pool.size()));
  std::vector<int64_t> indices;
  for (const int64_t i : rng.sample_without_replacement(static_cast<int64_t>(pool.size()), count)) indices.push_back(pool[i]);
  std::vector<float> images(indices.size() * kSampleImagePixels);
  gather_images(data.dataset->train, indices.data(), count, images.data());
  return images;
}

// FamilyConfig::latent_temperature: the noise columns of codes z [..., width] (the first `latent`) scaled by
// it; a mixture vae's component-picking column stays as drawn, so each component keeps its weight.
torch::Tensor tempered(const torch::Tensor& z, const FamilyConfig& config) {
  if (config.latent_temperature == 1.0) return z;
  auto scaled = z.clone();
  scaled.narrow(-1, 0, config.latent).mul_(config.latent_temperature);
  return scaled;
}

}  // namespace

void evaluate_generative(const FamilyConfig& config, const std::vector<const ModelSpec*>& specs,
                         const std::vector<float>& weights, const EvalData& data, const TrainOptions& options,
                         std::vector<TrainedModel>& out) {
  torch::NoGradGuard no_grad;
  const Family& family = find_family(config.name);
  const TorchFamily& impl = family.torch_impl();
  const Layout layout = family.layout(config);
  const torch::Device device(options.device);
  const int64_t models = static_cast<int64_t>(specs.size()), params_per_model = layout_size(layout);
  const bool conditional = config.condition == "label";
  const auto params =
      view_params(torch::from_blob(const_cast<float*>(weights.data()), {models, params_per_model}).to(device), layout);
  const auto generate = [&](const torch::Tensor& z, const torch::Tensor& labels) {
    return impl.generate(params, tempered(z, config).to(device), conditional ? labels.to(device) : torch::Tensor(), config)
        .to(torch::kCPU)
        .contiguous();
  };

  // Standard normals per image: the latent width, one more where a vae picks its mixture component.
  const int64_t width = impl.code_width(config);
  // Sample grid: the same codes for every model, then an interpolation between the first two.
  if (config.sample_grid > 0) {
    auto generator = at::make_generator<at::CPUGeneratorImpl>(kGridSeed);
    const auto grid = torch::randn({std::max<int64_t>(2, config.sample_grid), width}, generator);
    const auto steps = torch::linspace(0.0, 1.0, kInterpolationImages).unsqueeze(1);
    auto path = grid[0].unsqueeze(0) * (1.0 - steps) + grid[1].unsqueeze(0) * steps;
    // Beyond the latent width, the path keeps its first image's values: a mixture vae's row stays in grid
    // image 0's component, so it ends at grid image 1's code only when image 1 drew the same component.
    if (width > config.latent) {
      path.narrow(1, config.latent, width - config.latent)
          .copy_(grid[0].narrow(0, config.latent, width - config.latent).expand({kInterpolationImages, width - config.latent}));
    }
    const auto z = torch::cat({grid.narrow(0, 0, config.sample_grid), path});
    const int64_t count = z.size(0);
    // Grid images cycle through the classes; the interpolation row varies the code only, in the class
    // of its first image (grid image 0), so that it shows a latent interpolation of a conditional GAN.
    auto labels = cycling_labels(count, config.num_classes);
    labels.narrow(0, config.sample_grid, kInterpolationImages).copy_(labels[0].expand({kInterpolationImages, config.num_classes}));
    const auto images = generate(z.unsqueeze(0).expand({models, count, width}).contiguous(),
                                 labels.unsqueeze(0).expand({models, count, config.num_classes}).contiguous());
    for (int64_t m = 0; m < models; ++m) {
      out[m].samples.assign(images[m].data_ptr<float>(), images[m].data_ptr<float>() + count * kSampleImagePixels);
    }
  }

  // FID, mode coverage and collapse, from fid_samples codes of each model's own generator.
  const int64_t samples = config.fid_samples;
  std::vector<torch::Tensor> codes, labels;
  for (int64_t m = 0; m < models; ++m) {
    auto generator = at::make_generator<at::CPUGeneratorImpl>(mix_seed(specs[m]->seed, 0x666964ULL));
    codes.push_back(torch::randn({samples, width}, generator));
    const auto& p = specs[m]->proportions;
    const auto draws = torch::multinomial(torch::tensor(std::vector<double>(p.begin(), p.end())).to(torch::kFloat),
                                          samples, true, generator);
    labels.push_back(torch::zeros({samples, config.num_classes}).scatter_(1, draws.unsqueeze(1), 1.0f));
  }
  const auto generated = generate(torch::stack(codes), torch::stack(labels));
  std::vector<int64_t> model_classes;
  for (const auto& pool_label : options.class_labels) model_classes.push_back(pool_label);
  for (int64_t m = 0; m < models; ++m) {
    auto& metrics = out[m].metrics;
    const auto images = generated[m].contiguous();
    const auto reference = reference_images(*specs[m], data, samples);
    const auto reference_tensor = torch::from_blob(const_cast<float*>(reference.data()),
                                                   {static_cast<int64_t>(reference.size()) / kSampleImagePixels,
                                                    kSampleImagePixels});
    metrics["diversity_ratio"] = diversity(images) / std::max(1e-12, diversity(reference_tensor));
    if (metrics["diversity_ratio"] < kCollapseDiversity) out[m].status = "collapsed";
    if (metrics.count("d_loss")) metrics["js"] = js_from_discriminator_bce(metrics["d_loss"]);
    if (!data.featurenet) continue;  // classes given by the job: no feature net, no FID
    const int64_t dim = data.featurenet->embedding_dim;
    const auto reference_stats = gaussian_stats(
        feature_net_embed(*data.featurenet, reference.data(), reference_tensor.size(0)).data(), reference_tensor.size(0), dim);
    // FID against the reference and the feature net's classes of `count` images.
    const auto score = [&](const float* scored, int64_t count) {
      const auto features = feature_net_embed(*data.featurenet, scored, count);
      const double distance = fid(gaussian_stats(features.data(), count, dim), reference_stats);
      return std::make_pair(distance, mode_coverage(feature_net_classify(*data.featurenet, scored, count), model_classes,
                                                    specs[m]->proportions));
    };
    const auto [generated_fid, coverage] = score(images.data_ptr<float>(), samples);
    metrics["fid"] = generated_fid;
    metrics["modes_found"] = static_cast<double>(coverage.classes_found);
    metrics["modes_expected"] = static_cast<double>(coverage.classes_expected);
    metrics["mode_tv"] = coverage.total_variation;
    for (size_t slot = 0; slot + 1 < coverage.histogram.size(); ++slot) {
      metrics["generated_share_" + std::to_string(slot)] = coverage.histogram[slot];
    }
    // The floor: the same figures for real images of the mixture (the model's own training images), what a
    // generator that reproduced its data would score with this feature net and sample size.
    const auto real = real_images(*specs[m], data, samples);
    const int64_t real_count = static_cast<int64_t>(real.size()) / kSampleImagePixels;
    if (real_count < 2) continue;  // no covariance of one image
    const auto [real_fid, real_coverage] = score(real.data(), real_count);
    metrics["real_fid"] = real_fid;
    metrics["real_mode_tv"] = real_coverage.total_variation;
    // The decoder's floor (families that reconstruct: vae): the same figures for its reconstructions
    // decoder(mu(x)) of those images. No latent density makes generated images better than the decoder renders
    // the codes of real ones: a mode_tv near reconstruction_mode_tv puts the misfiled share on the decoder.
    if (!impl.reconstructs()) continue;
    StackedParams model_params;
    for (const auto& [name, tensor] : params) model_params[name] = tensor.narrow(0, m, 1);
    const auto real_batch =
        torch::from_blob(const_cast<float*>(real.data()), {1, real_count, kSampleImagePixels}).to(device);
    const auto reconstructed = impl.reconstruct(model_params, real_batch, config)[0].to(torch::kCPU).contiguous();
    const auto [reconstruction_fid, reconstruction_coverage] = score(reconstructed.data_ptr<float>(), real_count);
    metrics["reconstruction_fid"] = reconstruction_fid;
    metrics["reconstruction_mode_tv"] = reconstruction_coverage.total_variation;
  }
}

}  // namespace genzoo
