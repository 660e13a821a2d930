#include "information/estimators.h"

#include <algorithm>

#include "information/compression.h"
#include "information/flow_estimator.h"
#include "information/ksg.h"

namespace genzoo {

const std::vector<std::string>& information_estimators() {
  static const std::vector<std::string> names = {"ksg", "ksg_pca", "ksg_autoencoder", "flow"};
  return names;
}

int64_t flow_min_samples(int64_t dx, int64_t dy) {
  // The flows' linear heads alone fit dx² + dy² weights on the training split: with fewer than ~10 samples
  // per coordinate the canonical correlations of pure noise approach 1 (8 models in 4 + 2 dimensions gave
  // 12-13 nats on the quickstart).
  return 10 * (dx + dy);
}

InformationEstimates estimate_information(const std::vector<float>& features, int64_t dim, const std::vector<double>& proportions,
                                          int64_t dp, int64_t n, const InformationOptions& options) {
  const auto runs = [&](const char* name) {
    return std::find(options.estimators.begin(), options.estimators.end(), name) != options.estimators.end();
  };
  InformationEstimates out;
  const std::vector<double> y = standardize_columns(proportions, n, dp);
  const std::vector<double> x(features.begin(), features.end());
  const std::vector<double> components = principal_components(x, n, dim, options.components, &out.components);
  if (out.components == 0) {  // constant features carry nothing
    for (const std::string& name : options.estimators) out.nats[name] = 0.0;
    return out;
  }
  const std::vector<double> pcs = standardize_columns(components, n, out.components);
  if (runs("ksg")) out.nats["ksg"] = ksg_mutual_information(standardize_columns(x, n, dim), dim, y, dp, n, options.k);
  if (runs("ksg_pca")) out.nats["ksg_pca"] = ksg_mutual_information(pcs, out.components, y, dp, n, options.k);
  if (runs("ksg_autoencoder")) {
    AutoencoderCodeOptions code;
    code.code = options.components;
    code.steps = options.steps;
    code.hidden = 32;
    code.seed = options.seed;
    const Codes codes = autoencoder_codes(x, n, dim, code);
    out.autoencoder_mse = codes.reconstruction_mse;
    out.nats["ksg_autoencoder"] = ksg_mutual_information(standardize_columns(codes.values, n, codes.dim), codes.dim, y, dp, n, options.k);
  }
  if (runs("flow") && n >= flow_min_samples(out.components, dp)) {
    FlowEstimatorOptions flow;
    flow.steps = options.steps;
    flow.hidden = 32;
    flow.seed = options.seed;
    const FlowEstimate f = flow_mutual_information(pcs, out.components, y, dp, n, flow);
    out.nats["flow"] = f.mi_nats;
    out.flow_heldout_nats = f.mi_heldout_nats;
  }
  return out;
}

}  // namespace genzoo
