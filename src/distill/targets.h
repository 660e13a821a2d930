// What `genzoo distill` trains its students for: held-out target mixtures, each student's nested
// training samples, and the zoo's node (and teacher model) nearest a mixture.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace genzoo {
struct DistillConfig;
struct ModelRecord;
}  // namespace genzoo
namespace genzoo::priors {
struct PriorRecord;
}

namespace genzoo::distill {

// The target mixtures: [distill] proportions when given (num_classes each), else `mixtures` draws from
// Dirichlet(alpha) seeded by the job seed (a stream of its own, apart from the zoo's plan).
std::vector<std::vector<double>> target_mixtures(const DistillConfig& config, int64_t num_classes, double alpha,
                                                 uint64_t job_seed);

// The first n samples of one (mixture, seed)'s sequence: every position draws a class slot from the
// proportions and takes that class's next image in a random order of its pool, so the training set of
// a smaller n is the start of a larger one's and the class counts are Multinomial(n, p). Throws
// DistillError naming distill.sizes when a class's pool (the training split's images of that class)
// runs out.
std::vector<int64_t> training_samples(const std::vector<double>& proportions, int64_t n,
                                      const std::vector<std::vector<int64_t>>& class_pools, uint64_t seed);

// Chordal distance ‖√p - √q‖ between two class distributions' shapes (√2 x their Hellinger distance).
double shape_distance(const std::vector<double>& p, const std::vector<double>& q);

// The family's node prior (kind "node") whose members' mean proportions are nearest the target's in
// shape; ties: more members, then the lower name. Null when the family has none.
const priors::PriorRecord* nearest_node(const std::vector<priors::PriorRecord>& priors, const std::string& family,
                                        const std::vector<double>& proportions);
// The root prior ("root-g<G>") of that node's init group; null when absent.
const priors::PriorRecord* root_of(const std::vector<priors::PriorRecord>& priors, const priors::PriorRecord& node);

// The ok model of the family nearest the target in shape (hinton's teacher); ties: the lower id.
// Null when the family has none.
const ModelRecord* nearest_model(const std::vector<ModelRecord>& models, const std::string& family,
                                 const std::vector<double>& proportions);

}  // namespace genzoo::distill
