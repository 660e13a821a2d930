// The mutual-information estimators reduce runs on a zoo (issue 15 point 3): I(proportions; features)
// of one vectorization, n models as samples, by each registered estimator:
//   ksg              KSG on the standardized features as they are (the k-NN estimator in full dimension)
//   ksg_pca          KSG on the first `components` principal components (reduce's estimate since the start)
//   ksg_autoencoder  KSG on the codes of an autoencoder trained on the features (seed 002's compression)
//   flow             the normalizing-flow estimator (information/flow_estimator.h) on the PCA components;
//                    run only with at least flow_min_samples models (its estimate of noise is ~1 per pair below)
// The proportions keep K - 1 free coordinates, standardized.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace genzoo {

const std::vector<std::string>& information_estimators();

// Samples the flow estimator needs for dx + dy coordinates.
int64_t flow_min_samples(int64_t dx, int64_t dy);

struct InformationOptions {
  std::vector<std::string> estimators = information_estimators();
  int64_t components = 4;  // PCA components and autoencoder code width
  int k = 3;               // KSG neighbours
  int64_t steps = 500;     // Adam steps of the autoencoder and of the flows
  uint64_t seed = 0;
};

struct InformationEstimates {
  std::map<std::string, double> nats;  // per estimator run (flow absent with too few samples)
  double flow_heldout_nats = 0.0;      // flow: the held-out pointwise estimate
  double autoencoder_mse = 0.0;        // ksg_autoencoder: reconstruction error per standardized feature
  int64_t components = 0;              // principal components kept (0: the features have no variance)
};

// features [n, dim], proportions [n, dp]. Needs n > 2 k (the caller skips smaller families).
InformationEstimates estimate_information(const std::vector<float>& features, int64_t dim, const std::vector<double>& proportions,
                                          int64_t dp, int64_t n, const InformationOptions& options);

}  // namespace genzoo
