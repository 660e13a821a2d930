#include "information/flow_estimator.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "common/error.h"
#include "common/rng.h"

namespace genzoo {

namespace {

using torch::Tensor;
namespace F = torch::nn::functional;

constexpr double kLog2Pi = 1.8378770664093453;

Tensor uniform_init(int64_t rows, int64_t cols) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(cols));
  return (torch::rand({rows, cols}, torch::kFloat64) * 2.0 - 1.0) * bound;
}

// One affine coupling: the coordinates [begin, begin + width) condition the others' scale and shift.
struct Coupling {
  int64_t begin = 0, width = 0;
  Tensor w1, b1, w2, b2, w3, b3;
};

// One side's flow x -> z with log |det ∂z/∂x| per sample.
struct Flow {
  int64_t d = 0;
  Tensor mean, inverse_scale;                // the training split's standardization (constants)
  std::vector<Tensor> log_delta, epsilon;    // sinh-arcsinh per block: z = sinh(δ asinh(x) - ε)
  std::vector<Coupling> couplings;           // per block when d >= 2
  Tensor head;                               // the seed's linear layer L [d, d]

  Flow(const Tensor& train, int64_t blocks, int64_t hidden) : d(train.size(1)) {
    mean = train.mean(0);
    const Tensor std = train.std(0, /*unbiased=*/false);
    inverse_scale = torch::where(std > 1e-12, 1.0 / std, torch::ones_like(std));
    for (int64_t b = 0; b < blocks; ++b) {
      log_delta.push_back(torch::zeros({d}, torch::kFloat64));
      epsilon.push_back(torch::zeros({d}, torch::kFloat64));
      if (d < 2) continue;
      const int64_t half = d / 2;
      Coupling c;
      c.begin = b % 2 == 0 ? 0 : d - half;  // alternate which half conditions
      c.width = half;
      const int64_t out = d - half;
      c.w1 = uniform_init(hidden, half);
      c.b1 = torch::zeros({hidden}, torch::kFloat64);
      c.w2 = uniform_init(hidden, hidden);
      c.b2 = torch::zeros({hidden}, torch::kFloat64);
      c.w3 = torch::zeros({2 * out, hidden}, torch::kFloat64);  // identity at the start
      c.b3 = torch::zeros({2 * out}, torch::kFloat64);
      couplings.push_back(std::move(c));
    }
    head = torch::eye(d, torch::kFloat64);
  }

  std::vector<Tensor> parameters() {
    std::vector<Tensor> p = {head};
    for (size_t b = 0; b < log_delta.size(); ++b) p.insert(p.end(), {log_delta[b], epsilon[b]});
    for (Coupling& c : couplings) p.insert(p.end(), {c.w1, c.b1, c.w2, c.b2, c.w3, c.b3});
    return p;
  }

  Tensor standardized(const Tensor& x) const { return (x - mean) * inverse_scale; }

  // Everything before the head (the head's start is fitted on this).
  Tensor body(const Tensor& x, Tensor& logdet) const {
    Tensor h = standardized(x);
    for (size_t b = 0; b < log_delta.size(); ++b) {
      const Tensor delta = log_delta[b].exp();
      const Tensor v = delta * torch::asinh(h) - epsilon[b];
      // log |dz/dh| = log δ + log cosh v - ½ log(1 + h²), log cosh v = |v| + log1p(e^{-2|v|}) - log 2
      const Tensor log_cosh = v.abs() + torch::log1p(torch::exp(-2.0 * v.abs())) - std::log(2.0);
      logdet = logdet + (log_delta[b] + log_cosh - 0.5 * torch::log1p(h * h)).sum(1);
      h = torch::sinh(v);
      if (b < couplings.size()) {
        const Coupling& c = couplings[b];
        const Tensor condition = h.narrow(1, c.begin, c.width);
        const int64_t rest_begin = c.begin == 0 ? c.width : 0, rest = d - c.width;
        Tensor t = F::leaky_relu(torch::addmm(c.b1, condition, c.w1.t()), F::LeakyReLUFuncOptions().negative_slope(0.01));
        t = F::leaky_relu(torch::addmm(c.b2, t, c.w2.t()), F::LeakyReLUFuncOptions().negative_slope(0.01));
        t = torch::addmm(c.b3, t, c.w3.t());
        const Tensor log_scale = torch::tanh(t.narrow(1, 0, rest));  // bounded: no step can blow a scale up
        const Tensor moved = h.narrow(1, rest_begin, rest) * log_scale.exp() + t.narrow(1, rest, rest);
        logdet = logdet + log_scale.sum(1);
        h = c.begin == 0 ? torch::cat({condition, moved}, 1) : torch::cat({moved, condition}, 1);
      }
    }
    return h;
  }

  Tensor forward(const Tensor& x, Tensor& logdet) const {
    const Tensor h = body(x, logdet);
    logdet = logdet + std::get<1>(torch::linalg_slogdet(head));
    return torch::matmul(h, head.t());
  }
};

// C^{-1/2} of a covariance of standardized columns. Directions without variance (constant columns) stay
// at 0 instead of blowing up. No ridge: one of 1e-6 capped every canonical correlation at 1 - 1e-6,
// i.e. the estimate at ~6.6 nats per pair (a 10-nat pair came out at 6.56).
Tensor inverse_sqrt(const Tensor& covariance) {
  const auto [values, vectors] = torch::linalg_eigh(covariance);
  const Tensor kept = values > 1e-12 * values.abs().max().clamp_min(1e-300);
  return torch::matmul(vectors * torch::where(kept, values.clamp_min(1e-300).rsqrt(), torch::zeros_like(values)), vectors.t());
}

struct Model {
  Flow fx, fy;
  Tensor theta;  // ρ = tanh θ
  int64_t pairs;

  std::vector<Tensor> parameters() {
    std::vector<Tensor> p = fx.parameters();
    const std::vector<Tensor> q = fy.parameters();
    p.insert(p.end(), q.begin(), q.end());
    p.push_back(theta);
    return p;
  }

  // Per sample: log p(x, y) and the pointwise mutual information log p(x, y) - log p(x) - log p(y).
  std::pair<Tensor, Tensor> log_density(const Tensor& x, const Tensor& y) const {
    Tensor logdet = torch::zeros({x.size(0)}, torch::kFloat64);
    const Tensor zx = fx.forward(x, logdet), zy = fy.forward(y, logdet);
    const Tensor u = zx.narrow(1, 0, pairs), v = zy.narrow(1, 0, pairs);
    const Tensor rho = torch::tanh(theta);
    const Tensor one_minus = 1.0 - rho * rho;
    const Tensor marginal = -0.5 * (zx.pow(2).sum(1) + zy.pow(2).sum(1)) - 0.5 * kLog2Pi * static_cast<double>(zx.size(1) + zy.size(1));
    const Tensor pointwise = (-0.5 * torch::log(one_minus) - (u * u - 2.0 * rho * u * v + v * v) / (2.0 * one_minus) +
                              0.5 * (u * u + v * v)).sum(1);
    return {marginal + pointwise + logdet, pointwise};
  }
};

}  // namespace

FlowEstimate flow_mutual_information(const std::vector<double>& x, int64_t dx, const std::vector<double>& y, int64_t dy,
                                     int64_t n, const FlowEstimatorOptions& options) {
  if (dx < 1 || dy < 1 || static_cast<int64_t>(x.size()) != n * dx || static_cast<int64_t>(y.size()) != n * dy) {
    throw ReduceError("flow mutual information: x or y does not hold n rows");
  }
  const int64_t validation = std::max<int64_t>(4, static_cast<int64_t>(options.validation_fraction * static_cast<double>(n)));
  if (n - validation < 4) {
    throw ReduceError("flow mutual information needs at least 8 samples (got " + std::to_string(n) + ")");
  }
  torch::NoGradGuard setup_guard;
  torch::manual_seed(options.seed);
  Rng rng(mix_seed(options.seed, 0x464c4f57));
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  rng.shuffle(order);
  const Tensor all_x = torch::from_blob(const_cast<double*>(x.data()), {n, dx}, torch::kFloat64);
  const Tensor all_y = torch::from_blob(const_cast<double*>(y.data()), {n, dy}, torch::kFloat64);
  const Tensor index = torch::tensor(order, torch::kInt64);
  const Tensor valid_x = all_x.index_select(0, index.narrow(0, 0, validation));
  const Tensor valid_y = all_y.index_select(0, index.narrow(0, 0, validation));
  const Tensor train_x = all_x.index_select(0, index.narrow(0, validation, n - validation));
  const Tensor train_y = all_y.index_select(0, index.narrow(0, validation, n - validation));
  const int64_t train_n = n - validation;

  Model model{Flow(train_x, options.blocks, options.hidden), Flow(train_y, options.blocks, options.hidden), {}, std::min(dx, dy)};
  {
    // The start: canonical correlation analysis of the (identity-initialized) bodies' outputs.
    Tensor unused = torch::zeros({train_n}, torch::kFloat64);
    const Tensor hx = model.fx.body(train_x, unused), hy = model.fy.body(train_y, unused);
    const Tensor cx = hx - hx.mean(0), cy = hy - hy.mean(0);
    const double scale = 1.0 / static_cast<double>(train_n);
    const Tensor kx = inverse_sqrt(torch::matmul(cx.t(), cx) * scale), ky = inverse_sqrt(torch::matmul(cy.t(), cy) * scale);
    const auto [u, s, vh] = torch::linalg_svd(torch::matmul(torch::matmul(kx, torch::matmul(cx.t(), cy) * scale), ky), true);
    model.fx.head = torch::matmul(u.t(), kx).contiguous();
    model.fy.head = torch::matmul(vh, ky).contiguous();
    model.theta = torch::atanh(s.narrow(0, 0, model.pairs).clamp(0.0, 1.0 - 1e-9)).contiguous();
  }
  std::vector<Tensor> parameters = model.parameters();
  for (Tensor& p : parameters) p.set_requires_grad(true);
  const auto mi_of = [](const Tensor& theta) { return (-0.5 * torch::log1p(-torch::tanh(theta).pow(2))).sum().item<double>(); };

  FlowEstimate result;
  result.mi_start_nats = mi_of(model.theta);
  const auto validate = [&]() {
    torch::NoGradGuard guard;
    const auto [logp, pointwise] = model.log_density(valid_x, valid_y);
    return std::make_pair(-logp.mean().item<double>(), pointwise.mean().item<double>());
  };
  std::vector<Tensor> best;
  const auto keep = [&](int64_t step) {
    const auto [nll, heldout] = validate();
    if (!best.empty() && !(nll < result.validation_nll)) return;
    result.validation_nll = nll;
    result.mi_heldout_nats = heldout;
    result.best_step = step;
    best.clear();
    for (const Tensor& p : parameters) best.push_back(p.detach().clone());
  };
  keep(0);
  {
    torch::AutoGradMode enable(true);
    torch::optim::Adam optimizer(parameters, torch::optim::AdamOptions(options.lr));
    const int64_t batch = std::min(options.batch_size, train_n);
    std::vector<int64_t> rows(static_cast<size_t>(batch));
    for (int64_t step = 1; step <= options.steps; ++step) {
      for (int64_t& r : rows) r = rng.uniform_int(train_n);
      const Tensor picked = torch::tensor(rows, torch::kInt64);
      const Tensor loss = -model.log_density(train_x.index_select(0, picked), train_y.index_select(0, picked)).first.mean();
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      if (step % options.evaluate_every == 0 || step == options.steps) keep(step);
    }
  }
  for (size_t i = 0; i < parameters.size(); ++i) parameters[i].detach().copy_(best[i]);
  result.mi_nats = mi_of(model.theta.detach());
  const Tensor rho = torch::tanh(model.theta.detach());
  result.correlations.assign(rho.data_ptr<double>(), rho.data_ptr<double>() + rho.numel());
  return result;
}

}  // namespace genzoo
