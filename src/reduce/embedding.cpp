#include "reduce/embedding.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "common/error.h"
#include "common/rng.h"
#include "reduce/hierarchy.h"
#include "reduce/vectorize.h"
#include "job/job.h"

namespace genzoo {

SplitOptions::SplitOptions(const ReduceConfig& config, uint64_t seed)
    : validation(config.validation), test(config.test), seed(seed), min_models(config.min_models) {}

EmbeddingOptions::EmbeddingOptions(const ReduceConfig& config, uint64_t seed)
    : split(config, seed),
      epochs(config.epochs),
      patience(config.patience),
      hidden(config.hidden),
      lr(config.lr),
      weight_decay(config.weight_decay),
      order_tolerance(config.order_tolerance) {}

namespace {

constexpr double kPi = 3.14159265358979323846;

// Rows of `values` [n, k] selected by `rows`.
std::vector<double> select_rows(const std::vector<double>& values, int64_t k, const std::vector<int64_t>& rows) {
  std::vector<double> out;
  out.reserve(rows.size() * k);
  for (int64_t r : rows) out.insert(out.end(), values.begin() + r * k, values.begin() + (r + 1) * k);
  return out;
}

std::vector<double> to_vector(const torch::Tensor& t) {
  const auto c = t.to(torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

// Additivity triplets (rows D1, D2, D1 u D2) and nested pairs (rows small, large) of the chains whose
// models all lie in `rows` (split_models keeps triplets and chains whole).
struct DesignGroups {
  std::vector<std::vector<int64_t>> triplets;
  std::vector<std::pair<int64_t, int64_t>> nested;
  int64_t chains = 0;
};

DesignGroups design_groups(const std::vector<EmbeddingModel>& models, const std::vector<int64_t>& rows) {
  std::map<std::pair<std::string, int64_t>, std::vector<int64_t>> groups;  // role-ordered rows
  for (int64_t i : rows) {
    const EmbeddingModel& m = models[i];
    if ((m.design != "triplet" && m.design != "chain") || m.design_role < 0 || m.design_role > 2) continue;
    auto& members = groups[{m.design, m.design_group}];
    members.resize(3, -1);
    members[m.design_role] = i;
  }
  DesignGroups out;
  for (const auto& [key, members] : groups) {
    if (std::count(members.begin(), members.end(), -1) > 0) continue;
    if (key.first == "triplet") {
      out.triplets.push_back(members);
    } else {
      out.nested.insert(out.nested.end(), {{members[0], members[1]}, {members[1], members[2]}, {members[0], members[2]}});
      ++out.chains;
    }
  }
  return out;
}

torch::Tensor torch_shapes(const torch::Tensor& z) {
  return torch::sqrt(z / z.sum(1, true).clamp_min(1e-12) + 1e-12);
}

// Rows of a [n, k] tensor picked by a list of row indices.
torch::Tensor pick(const torch::Tensor& t, const std::vector<int64_t>& rows) {
  return t.index_select(0, torch::tensor(rows, torch::kInt64));
}

}  // namespace

std::vector<int32_t> split_models(const std::vector<EmbeddingModel>& models, const SplitOptions& options,
                                  const std::string& family) {
  const int64_t n = static_cast<int64_t>(models.size());
  if (n < options.min_models) {
    throw ReduceError("family " + family + " has " + std::to_string(n) + " models; the embedding's train/validation/test " +
                      "split needs at least " + std::to_string(options.min_models));
  }
  // Units by design: a triplet or chain group is one unit, every other model its own.
  std::map<std::string, std::vector<std::vector<int64_t>>> units;
  std::map<std::pair<std::string, int64_t>, size_t> group_unit;
  for (int64_t i = 0; i < n; ++i) {
    const EmbeddingModel& m = models[i];
    auto& design_units = units[m.design];
    if ((m.design == "triplet" || m.design == "chain") && m.design_group >= 0) {
      const auto key = std::make_pair(m.design, m.design_group);
      const auto found = group_unit.find(key);
      if (found != group_unit.end()) {
        design_units[found->second].push_back(i);
        continue;
      }
      group_unit[key] = design_units.size();
    }
    design_units.push_back({i});
  }
  std::vector<int32_t> split(n, kSplitTrain);
  Rng rng(mix_seed(options.seed, 0x53504c4954));
  for (auto& [design, list] : units) {
    rng.shuffle(list);
    const int64_t count = static_cast<int64_t>(list.size());
    int64_t test = std::llround(options.test * count), validation = std::llround(options.validation * count);
    if (count >= 3) {
      test = std::max<int64_t>(1, test);
      validation = std::max<int64_t>(1, validation);
    }
    test = std::min(test, count);
    validation = std::min(validation, count - test);
    for (int64_t u = 0; u < count; ++u) {
      const int32_t role = u < test ? kSplitTest : u < test + validation ? kSplitValidation : kSplitTrain;
      for (int64_t i : list[u]) split[i] = role;
    }
  }
  for (int32_t role : {kSplitTrain, kSplitValidation, kSplitTest}) {
    if (std::count(split.begin(), split.end(), role) == 0) {
      throw ReduceError("family " + family + ": " + std::to_string(n) + " models leave the " +
                        (role == kSplitTrain ? "train" : role == kSplitValidation ? "validation" : "test") +
                        " split empty; the embedding needs more models");
    }
  }
  return split;
}

EmbeddingResult train_embedding(const FeatureMatrix& features, const std::vector<EmbeddingModel>& models,
                                const EmbeddingOptions& options) {
  const int64_t n = features.rows(), dim = features.dim;
  if (static_cast<int64_t>(models.size()) != n) {
    throw ReduceError("embedding: " + std::to_string(models.size()) + " models for " + std::to_string(n) + " feature rows");
  }
  EmbeddingResult result;
  result.model_ids = features.model_ids;
  result.classes = models.empty() ? 0 : static_cast<int64_t>(models.front().counts.size());
  const int64_t k = result.classes;
  result.split = split_models(models, options.split, features.family);

  std::vector<double> counts;
  for (const EmbeddingModel& m : models) counts.insert(counts.end(), m.counts.begin(), m.counts.end());
  std::vector<int64_t> rows_of[3];
  for (int64_t i = 0; i < n; ++i) rows_of[result.split[i]].push_back(i);

  auto x = torch::from_blob(const_cast<float*>(features.data.data()), {n, dim}, torch::kFloat32).to(torch::kFloat64);
  const auto target_counts = torch::tensor(counts, torch::kFloat64).view({n, k});
  const auto x_train = pick(x, rows_of[kSplitTrain]);
  x = (x - x_train.mean(0)) / x_train.std(0, /*unbiased=*/false).clamp_min(1e-8);
  // Targets in units of the mean training mass, so that the loss scale does not depend on sample sizes.
  const double scale = pick(target_counts, rows_of[kSplitTrain]).sum(1).mean().item<double>();
  const auto target = target_counts / scale;

  torch::manual_seed(options.split.seed);
  torch::nn::Sequential net(torch::nn::Linear(dim, options.hidden), torch::nn::ReLU(),
                            torch::nn::Linear(options.hidden, options.hidden), torch::nn::ReLU(),
                            torch::nn::Linear(options.hidden, k), torch::nn::Softplus());
  net->to(torch::kFloat64);
  torch::optim::Adam optimizer(net->parameters(),
                               torch::optim::AdamOptions(options.lr).weight_decay(options.weight_decay));
  const auto loss_of = [&](SplitRole role) {
    const auto z = net->forward(pick(x, rows_of[role]));
    const auto t = pick(target, rows_of[role]);
    return torch::mse_loss(z, t) + torch::mse_loss(torch_shapes(z), torch_shapes(t));
  };
  double best = std::numeric_limits<double>::infinity();
  std::vector<torch::Tensor> best_state;
  int64_t best_epoch = 0;
  for (int64_t epoch = 0; epoch < options.epochs && epoch - best_epoch <= options.patience; ++epoch) {
    optimizer.zero_grad();
    loss_of(kSplitTrain).backward();
    optimizer.step();
    if (epoch % 10 == 9 || epoch + 1 == options.epochs) {
      torch::NoGradGuard no_grad;
      const double validation = loss_of(kSplitValidation).item<double>();
      if (validation < best) {
        best = validation;
        best_epoch = epoch;
        best_state.clear();
        for (const auto& p : net->parameters()) best_state.push_back(p.detach().clone());
      }
    }
  }
  {
    torch::NoGradGuard no_grad;
    const auto parameters = net->parameters();
    for (size_t i = 0; i < parameters.size() && i < best_state.size(); ++i) parameters[i].copy_(best_state[i]);
    const auto z = net->forward(x) * scale;
    result.z = to_vector(z);
  }
  result.u = shapes_of(result.z, k);

  // Metrics on test models only (validation angular error for model selection).
  const std::vector<double> u_true = shapes_of(counts, k);
  EmbeddingMetrics& metrics = result.metrics;
  const auto& test = rows_of[kSplitTest];
  metrics.test_models = static_cast<int64_t>(test.size());
  const std::vector<double> u_test = select_rows(result.u, k, test), u_test_true = select_rows(u_true, k, test);
  metrics.angular_error_deg = angular_error_deg(u_test, u_test_true, k);
  metrics.validation_angular_error_deg = angular_error_deg(select_rows(result.u, k, rows_of[kSplitValidation]),
                                                           select_rows(u_true, k, rows_of[kSplitValidation]), k);
  metrics.hellinger_spearman = test.size() >= 3 ? hellinger_spearman(u_test, u_test_true, k) : std::nan("");
  const DesignGroups test_groups = design_groups(models, test);
  const auto& triplets = test_groups.triplets;
  const auto& nested = test_groups.nested;
  metrics.test_chains = test_groups.chains;
  metrics.test_triplets = static_cast<int64_t>(triplets.size());
  metrics.additivity_rel_error = additivity_rel_error(result.z, k, triplets);
  metrics.order_violation_rate = order_violation_rate(result.z, k, nested, options.order_tolerance);
  if (test.size() >= 3) {
    const int64_t t = static_cast<int64_t>(test.size());
    const Dendrogram predicted = average_linkage(euclidean_distances(u_test, t, k), t);
    const Dendrogram truth = average_linkage(euclidean_distances(u_test_true, t, k), t);
    metrics.cophenetic_corr = cophenetic_correlation(predicted, truth);
  } else {
    metrics.cophenetic_corr = std::nan("");
  }
  return result;
}

std::vector<double> shapes_of(const std::vector<double>& mass, int64_t k) {
  std::vector<double> u(mass.size());
  for (size_t r = 0; r * k < mass.size(); ++r) {
    double total = 0.0;
    for (int64_t j = 0; j < k; ++j) total += std::max(0.0, mass[r * k + j]);
    for (int64_t j = 0; j < k; ++j) {
      u[r * k + j] = total > 0.0 ? std::sqrt(std::max(0.0, mass[r * k + j]) / total) : std::sqrt(1.0 / k);
    }
  }
  return u;
}

double angular_error_deg(const std::vector<double>& u_pred, const std::vector<double>& u_true, int64_t k) {
  if (u_pred.size() != u_true.size()) throw ReduceError("angular error of shape matrices of different sizes");
  const size_t rows = u_pred.size() / k;
  if (rows == 0) return std::nan("");
  double sum = 0.0;
  for (size_t r = 0; r < rows; ++r) {
    double dot = 0.0, a = 0.0, b = 0.0;
    for (int64_t j = 0; j < k; ++j) {
      dot += u_pred[r * k + j] * u_true[r * k + j];
      a += u_pred[r * k + j] * u_pred[r * k + j];
      b += u_true[r * k + j] * u_true[r * k + j];
    }
    const double cosine = std::clamp(dot / std::sqrt(std::max(a * b, 1e-300)), -1.0, 1.0);
    sum += std::acos(cosine) * 180.0 / kPi;
  }
  return sum / static_cast<double>(rows);
}

namespace {
std::vector<double> average_ranks(const std::vector<double>& values) {
  std::vector<size_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return values[a] < values[b]; });
  std::vector<double> ranks(values.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && values[order[j + 1]] == values[order[i]]) ++j;
    for (size_t t = i; t <= j; ++t) ranks[order[t]] = 0.5 * double(i + j) + 1.0;
    i = j + 1;
  }
  return ranks;
}
}  // namespace

double spearman_correlation(const std::vector<double>& a, const std::vector<double>& b) {
  return pearson_correlation(average_ranks(a), average_ranks(b));
}

std::vector<double> hellinger_distances(const std::vector<double>& u, int64_t k) {
  const int64_t n = static_cast<int64_t>(u.size()) / k;
  std::vector<double> distances;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = i + 1; j < n; ++j) {
      double sum = 0.0;
      for (int64_t c = 0; c < k; ++c) sum += (u[i * k + c] - u[j * k + c]) * (u[i * k + c] - u[j * k + c]);
      distances.push_back(std::sqrt(sum / 2.0));
    }
  }
  return distances;
}

double hellinger_spearman(const std::vector<double>& u_pred, const std::vector<double>& u_true, int64_t k) {
  return spearman_correlation(hellinger_distances(u_pred, k), hellinger_distances(u_true, k));
}

double additivity_rel_error(const std::vector<double>& z, int64_t k, const std::vector<std::vector<int64_t>>& triplets) {
  if (triplets.empty()) return std::nan("");
  double sum = 0.0;
  for (const auto& t : triplets) {
    double residual = 0.0, norm = 0.0;
    for (int64_t j = 0; j < k; ++j) {
      const double whole = z[t[2] * k + j], parts = z[t[0] * k + j] + z[t[1] * k + j];
      residual += (whole - parts) * (whole - parts);
      norm += whole * whole;
    }
    sum += std::sqrt(residual) / std::max(std::sqrt(norm), 1e-300);
  }
  return sum / static_cast<double>(triplets.size());
}

double order_violation_rate(const std::vector<double>& z, int64_t k,
                            const std::vector<std::pair<int64_t, int64_t>>& nested, double tolerance) {
  if (nested.empty()) return std::nan("");
  int64_t violations = 0;
  for (const auto& [small, large] : nested) {
    double total = 0.0;
    for (int64_t j = 0; j < k; ++j) total += z[large * k + j];
    bool violated = false;
    for (int64_t j = 0; j < k; ++j) violated = violated || z[small * k + j] > z[large * k + j] + tolerance * total;
    violations += violated;
  }
  return static_cast<double>(violations) / static_cast<double>(nested.size());
}

}  // namespace genzoo
