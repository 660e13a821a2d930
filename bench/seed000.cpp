// Seed 000's theorem (Nikitina 2025) checked numerically (issue 15 point 2): zoos of linear autoencoders
// trained on Bernoulli(p) subsets X1 of a pool X of n vectors x ~ N(μ, Σ), the seed's three closed forms
// (information/theorem.h) against estimates from samples over the zoo.
//
// The zoo: M models, one subset each, all from the same initialization (as genzoo's init groups), trained
// with minibatch Adam whose batches come from a per-model seed; Q of the subsets are also trained R more
// times with other minibatch seeds (the spread of a statistic given its subset). Statistics of a model:
// s, the singular values of its encoder W1 (k), and P = W2 W1 (the reconstruction map, invariant under the
// W1 -> A W1, W2 -> W2 A^{-1} symmetry that makes W itself unidentifiable). The subset enters through
// (mean, covariance) of X1: the linear AE's loss depends on X1 only through them, so they are sufficient.
// Estimates of I(X1; T) for T = s and T = P:
//   ksg      KSG between X1's moments (principal components) and T (principal components for P)
//   flow     the normalizing-flow estimator (information/flow_estimator.h), its held-out form
//            (both, and the closed forms, are check_theorem's on the zoo; genzoo reduce runs the same on its zoos)
//   spread   ½ log |Cov T| - ½ E_X1 log |Cov(T | X1)|: the Gaussian decomposition h(T) - h(T | X1), from
//            the zoo's spread and the restarts' spread (P on its first k principal components)
//
//   cmake --build build --target genzoo_bench_seed000
//   build/genzoo_bench_seed000 [--dims 8] [--codes 2 4] [--pools 400 2000] [--inclusion 0.1 0.5] [--models 400]
#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "common/rng.h"
#include "information/theorem.h"

using namespace genzoo;

namespace {

struct Settings {
  int64_t models = 400, subsets_repeated = 16, restarts = 8, steps = 1500, batch = 32;
  double lr = 1e-2, ratio = 0.6;
  uint64_t seed = 0;
};

// log det of the sample covariance of rows [n, dim] (dim small).
double log_det_covariance(const torch::Tensor& rows) {
  const torch::Tensor centered = rows - rows.mean(0);
  const torch::Tensor c = torch::matmul(centered.t(), centered) / static_cast<double>(rows.size(0) - 1);
  return std::get<1>(torch::linalg_slogdet(c)).item<double>();
}

std::vector<double> to_vector(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

// The restarts' spread of a statistic given its subset, which check_theorem has no restarts for: the statistic of
// every model [T, dim] on the zoo's first min(dim, k) principal axes (as check_theorem compresses it), then
// ½ log |Cov T| − ½ E_X1 log |Cov(T | X1)| over the zoo and the repeated subsets. *sd_ratio: the restarts' spread
// over the zoo's, per coordinate.
double spread_information(const torch::Tensor& stat_all, int64_t k, const Settings& st, double* sd_ratio) {
  const torch::Tensor zoo = stat_all.narrow(0, 0, st.models);
  const torch::Tensor centered = zoo - zoo.mean(0);
  const int64_t c = std::min(stat_all.size(1), k);
  const torch::Tensor axes = std::get<2>(torch::linalg_svd(centered, false)).narrow(0, 0, c);
  const torch::Tensor projected = torch::matmul(stat_all - zoo.mean(0), axes.t());
  double within = 0.0;
  for (int64_t j = 0; j < st.subsets_repeated; ++j) {
    std::vector<int64_t> members;
    for (int64_t r = 0; r < st.restarts; ++r) members.push_back(st.models + r * st.subsets_repeated + j);
    members.push_back(j);
    within += log_det_covariance(projected.index_select(0, torch::tensor(members, torch::kInt64))) / static_cast<double>(st.subsets_repeated);
  }
  const double across = log_det_covariance(projected.narrow(0, 0, st.models));
  *sd_ratio = std::exp((within - across) / (2.0 * static_cast<double>(c)));
  return 0.5 * (across - within);
}

struct Row {
  double mean_m = 0, closed1 = 0, closed2_finite_share = 0, closed2 = 0, closed2_residual = 0, closed3 = 0;
  double s_ksg = 0, s_flow = 0, s_spread = 0, p_ksg = 0, p_flow = 0, p_spread = 0, spread_ratio = 0;
};

Row run_point(int64_t d, int64_t k, int64_t n, double p, const Settings& st) {
  Rng rng(mix_seed(st.seed, static_cast<uint64_t>(d * 1000003 + k * 10007 + n * 7) ^ static_cast<uint64_t>(p * 1e6)));
  torch::manual_seed(st.seed);
  // Σ = Q diag(λ) Qᵀ with λ_i = 2 ratio^i, μ = 0.5.
  std::vector<double> lambda(static_cast<size_t>(d));
  for (int64_t i = 0; i < d; ++i) lambda[i] = 2.0 * std::pow(st.ratio, static_cast<double>(i));
  const torch::Tensor q = std::get<0>(torch::linalg_qr(torch::randn({d, d}, torch::kFloat64)));
  const torch::Tensor sigma = torch::matmul(q * torch::tensor(lambda, torch::kFloat64), q.t());
  const torch::Tensor pool = torch::matmul(torch::randn({n, d}, torch::kFloat64), torch::matmul(q, torch::diag(torch::tensor(lambda, torch::kFloat64).sqrt())).t()) + 0.5;

  // Subsets: the zoo's M, then R restarts of the first Q.
  std::vector<std::vector<int64_t>> subsets;
  for (int64_t j = 0; j < st.models; ++j) {
    std::vector<int64_t> kept;
    for (int64_t i = 0; i < n; ++i) if (rng.uniform() < p) kept.push_back(i);
    if (kept.size() < 2) kept = {0, 1};
    subsets.push_back(std::move(kept));
  }
  std::vector<int64_t> subset_of;  // model -> subset
  for (int64_t j = 0; j < st.models; ++j) subset_of.push_back(j);
  for (int64_t r = 0; r < st.restarts; ++r)
    for (int64_t j = 0; j < st.subsets_repeated; ++j) subset_of.push_back(j);
  const int64_t total = static_cast<int64_t>(subset_of.size());

  // One shared initialization, broadcast to every model.
  const double b1 = 1.0 / std::sqrt(static_cast<double>(d)), b2 = 1.0 / std::sqrt(static_cast<double>(k));
  torch::Tensor w1 = ((torch::rand({1, k, d}, torch::kFloat64) * 2 - 1) * b1).repeat({total, 1, 1}).requires_grad_(true);
  torch::Tensor w2 = ((torch::rand({1, d, k}, torch::kFloat64) * 2 - 1) * b2).repeat({total, 1, 1}).requires_grad_(true);
  torch::Tensor c1 = torch::zeros({total, 1, k}, torch::kFloat64).requires_grad_(true);
  torch::Tensor c2 = torch::zeros({total, 1, d}, torch::kFloat64).requires_grad_(true);
  torch::optim::Adam adam({w1, w2, c1, c2}, torch::optim::AdamOptions(st.lr));
  std::vector<Rng> batch_rngs;
  for (int64_t t = 0; t < total; ++t) batch_rngs.emplace_back(mix_seed(st.seed + 17, static_cast<uint64_t>(t)));
  std::vector<int64_t> rows(static_cast<size_t>(total * st.batch));
  for (int64_t step = 0; step < st.steps; ++step) {
    for (int64_t t = 0; t < total; ++t) {
      const auto& sub = subsets[subset_of[t]];
      for (int64_t b = 0; b < st.batch; ++b) rows[t * st.batch + b] = sub[batch_rngs[t].uniform_int(static_cast<int64_t>(sub.size()))];
    }
    const torch::Tensor x = pool.index_select(0, torch::tensor(rows, torch::kInt64)).view({total, st.batch, d});
    const torch::Tensor z = torch::baddbmm(c1, x, w1.transpose(1, 2));
    const torch::Tensor out = torch::baddbmm(c2, z, w2.transpose(1, 2));
    const torch::Tensor loss = (out - x).pow(2).mean({1, 2}).sum();
    adam.zero_grad();
    loss.backward();
    adam.step();
  }
  torch::NoGradGuard guard;

  // The zoo (the first M models) as information/theorem.h takes it; its subsets enter through their moments.
  TheoremZoo zoo;
  zoo.d = d;
  zoo.k = k;
  zoo.n = n;
  zoo.p = p;
  zoo.sigma = to_vector(sigma);
  zoo.w1 = to_vector(w1.narrow(0, 0, st.models));
  zoo.w2 = to_vector(w2.narrow(0, 0, st.models));
  const torch::Tensor pool_values = pool.to(torch::kFloat32).contiguous();  // subset_moments reads genzoo's float data
  for (int64_t j = 0; j < st.models; ++j) {
    const std::vector<double> moments = subset_moments(pool_values.data_ptr<float>(), d, subsets[j]);
    zoo.moments.insert(zoo.moments.end(), moments.begin(), moments.end());
    zoo.m.push_back(static_cast<int64_t>(subsets[j].size()));
  }
  const TheoremCheck check = check_theorem(zoo, 3, 600, 0);

  Row row;
  int64_t finite = 0;
  for (int64_t j = 0; j < st.models; ++j) {
    const double models = static_cast<double>(st.models);
    row.mean_m += static_cast<double>(zoo.m[j]) / models;
    finite += std::isfinite(check.weight_closed[j]);
    if (std::isfinite(check.weight_closed[j])) row.closed2 += check.weight_closed[j];
    row.closed2_residual += check.weight_residual[j] / models;
    row.closed3 += check.singular_closed[j] / models;
  }
  row.closed1 = check.subset_closed;
  row.closed2_finite_share = static_cast<double>(finite) / static_cast<double>(st.models);
  row.closed2 = finite > 0 ? row.closed2 / static_cast<double>(finite) : std::numeric_limits<double>::infinity();
  row.s_ksg = check.s_ksg;
  row.s_flow = check.s_flow;
  row.p_ksg = check.p_ksg;
  row.p_flow = check.p_flow;
  row.s_spread = spread_information(torch::linalg_svdvals(w1), k, st, &row.spread_ratio);
  double p_ratio = 0.0;
  row.p_spread = spread_information(torch::bmm(w2, w1).reshape({total, d * d}), k, st, &p_ratio);
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Seed 000's theorem: closed forms against estimates over zoos of linear autoencoders on Gaussian subsets"};
  std::vector<int64_t> dims = {8}, codes = {2, 4}, pools = {400, 2000};
  std::vector<double> inclusion = {0.1, 0.5};
  Settings st;
  app.add_option("--dims", dims, "d");
  app.add_option("--codes", codes, "k");
  app.add_option("--pools", pools, "n");
  app.add_option("--inclusion", inclusion, "p");
  app.add_option("--models", st.models, "Zoo models per point");
  app.add_option("--steps", st.steps, "Adam steps per model");
  app.add_option("--restarts", st.restarts, "Restarts of each repeated subset");
  app.add_option("--seed", st.seed, "Seed");
  CLI11_PARSE(app, argc, argv);
  std::printf("Σ eigenvalues 2·%.1f^i, μ = 0.5; %lld models per point, %lld subsets x %lld restarts; %lld Adam steps of %lld\n",
              st.ratio, static_cast<long long>(st.models), static_cast<long long>(st.subsets_repeated),
              static_cast<long long>(st.restarts), static_cast<long long>(st.steps), static_cast<long long>(st.batch));
  std::printf("%3s %2s %5s %4s %7s | %9s | %6s %9s %9s | %9s | I(X1;s): %6s %6s %6s (sd ratio) | I(X1;P): %6s %6s %6s\n", "d", "k", "n",
              "p", "E[m]", "(1) npH", "(2)fin", "(2)", "(2)resid", "(3)", "ksg", "flow", "spread", "ksg", "flow", "spread");
  for (int64_t d : dims)
    for (int64_t k : codes)
      for (int64_t n : pools)
        for (double p : inclusion) {
          if (k >= d) continue;
          const Row r = run_point(d, k, n, p, st);
          std::printf("%3lld %2lld %5lld %4.2f %7.1f | %9.1f | %6.2f %9.1f %9.1f | %9.1f |          %6.2f %6.2f %6.2f (%.3f)     |          %6.2f %6.2f %6.2f\n",
                      static_cast<long long>(d), static_cast<long long>(k), static_cast<long long>(n), p, r.mean_m, r.closed1,
                      r.closed2_finite_share, r.closed2, r.closed2_residual, r.closed3, r.s_ksg, r.s_flow, r.s_spread, r.spread_ratio,
                      r.p_ksg, r.p_flow, r.p_spread);
          std::fflush(stdout);
        }
  return 0;
}
