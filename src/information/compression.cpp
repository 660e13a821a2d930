#include "information/compression.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "common/rng.h"
#include "common/text.h"
#include "information/ksg.h"

namespace genzoo {

namespace {

struct CodeNetImpl : torch::nn::Module {
  torch::nn::Linear in1{nullptr}, in2{nullptr}, out1{nullptr}, out2{nullptr};
  CodeNetImpl(int64_t dim, int64_t hidden, int64_t code)
      : in1(register_module("in1", torch::nn::Linear(dim, hidden))),
        in2(register_module("in2", torch::nn::Linear(hidden, code))),
        out1(register_module("out1", torch::nn::Linear(code, hidden))),
        out2(register_module("out2", torch::nn::Linear(hidden, dim))) {}
  torch::Tensor encode(const torch::Tensor& x) { return in2(torch::leaky_relu(in1(x), 0.01)); }
  torch::Tensor decode(const torch::Tensor& z) { return out2(torch::leaky_relu(out1(z), 0.01)); }
};
TORCH_MODULE(CodeNet);

}  // namespace

const std::vector<std::string>& compressions() {
  static const std::vector<std::string> names = {"none", "pca", "autoencoder"};
  return names;
}

Codes autoencoder_codes(const std::vector<double>& values, int64_t n, int64_t dim, const AutoencoderCodeOptions& options) {
  if (static_cast<int64_t>(values.size()) != n * dim || n < 1) throw ReduceError("autoencoder codes: the values do not hold n rows");
  const std::vector<double> standardized = standardize_columns(values, n, dim);
  if (dim <= options.code) return {standardized, dim, 0.0};
  torch::manual_seed(options.seed);
  Rng rng(mix_seed(options.seed, 0x434f4445));
  const torch::Tensor data = torch::from_blob(const_cast<double*>(standardized.data()), {n, dim}, torch::kFloat64).to(torch::kFloat32);
  CodeNet net(dim, options.hidden, options.code);
  torch::optim::Adam optimizer(net->parameters(), torch::optim::AdamOptions(options.lr));
  const int64_t batch = std::min(options.batch_size, n);
  std::vector<int64_t> rows(static_cast<size_t>(batch));
  for (int64_t step = 0; step < options.steps; ++step) {
    for (int64_t& r : rows) r = rng.uniform_int(n);
    const torch::Tensor x = data.index_select(0, torch::tensor(rows, torch::kInt64));
    const torch::Tensor loss = (net->decode(net->encode(x)) - x).pow(2).mean();
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
  }
  torch::NoGradGuard guard;
  const torch::Tensor codes = net->encode(data);
  const double mse = (net->decode(codes) - data).pow(2).mean().item<double>();
  const torch::Tensor out = codes.to(torch::kFloat64).contiguous();
  return {std::vector<double>(out.data_ptr<double>(), out.data_ptr<double>() + n * options.code), options.code, mse};
}

Codes pca_codes(const std::vector<double>& values, int64_t n, int64_t dim, int64_t code) {
  Codes out;
  double kept_share = 1.0;
  out.values = principal_components(values, n, dim, code, &out.dim, &kept_share);
  out.reconstruction_mse = 1.0 - kept_share;
  return out;
}

Codes compress(const std::string& compression, const std::vector<double>& values, int64_t n, int64_t dim,
               const AutoencoderCodeOptions& options) {
  if (compression == "none") return {standardize_columns(values, n, dim), dim, 0.0};
  if (compression == "pca") return pca_codes(values, n, dim, options.code);
  if (compression == "autoencoder") return autoencoder_codes(values, n, dim, options);
  throw ReduceError("unknown compression '" + compression + "' (known: " + join(compressions()) + ")");
}

double compressed_ksg(const std::string& compression, const std::vector<double>& x, int64_t dx, const std::vector<double>& y,
                      int64_t dy, int64_t n, const AutoencoderCodeOptions& options, int k) {
  AutoencoderCodeOptions for_y = options;
  for_y.seed = mix_seed(options.seed, 1);
  const Codes cx = compress(compression, x, n, dx, options), cy = compress(compression, y, n, dy, for_y);
  if (cx.dim == 0 || cy.dim == 0) return 0.0;
  // KSG's max-norm mixes the two sides' scales: standardize the codes too.
  return ksg_mutual_information(standardize_columns(cx.values, n, cx.dim), cx.dim, standardize_columns(cy.values, n, cy.dim),
                                cy.dim, n, k);
}

}  // namespace genzoo
