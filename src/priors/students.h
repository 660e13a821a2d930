// Distilling the zoo's families into smaller students (issue 12, seed 004): which units a teacher
// configuration must lose to become a student configuration, in which order, and the prior over the
// student's weights that the φ sequence leaves. The aligned prior is in the student's own layout (the
// one zoo.h5 would store for a model of that configuration).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "priors/alignment.h"

namespace genzoo {
struct FamilyConfig;
}

namespace genzoo::priors {

// One kind of unit and how many of them the student keeps: e.g. linear_ae's "code" units, 16 -> 8.
struct UnitKind {
  std::string name;  // "code", "hidden", "encoder hidden", "conv1 channel", ...
  UnitSlices slices;
  int64_t teacher_count = 0, student_count = 0;
  std::string leaving_bias;  // a linear code's decoder bias (its units can be rotated: priors/code_basis.h), else empty
};

struct CodeBasis;

// The unit kinds a teacher must lose to become the student, in the order φ removes them. Alignable:
// linear_ae latent; conv_ae latent and channels; vae hidden and latent, and channels with decoder = "conv". Throws ReduceError naming the
// key when the families differ, the student is wider, or it differs in a key alignment cannot change.
std::vector<UnitKind> unit_kinds(const FamilyConfig& teacher, const FamilyConfig& student);

// Throws ReduceError naming the key when alignment cannot make the student from the teacher: unit_kinds'
// checks, or for mlp seed 004's reachability of its widths (alignment_steps).
void check_alignable(const FamilyConfig& teacher, const FamilyConfig& student);


// The student's prior: teacher's Gaussian through the φ sequence (mlp: seed 004's φ and ψ sequence), units picked by `order`
// (priors/orders.h); gradient_variance: per teacher weight, for the gradient_covariance order. code_basis: the
// principal basis of the teacher's linear code (linear_ae, conv_ae): the prior is first re-expressed in it
// (priors/code_basis.h) and φ removes the weakest components first, whatever `order` says for the code.
// Throws ReduceError for an unknown order (naming the known ones) or when the result's layout is not the student family's layout.
AlignedPrior align(const LowRankGaussian& teacher, const FamilyConfig& teacher_config, const FamilyConfig& student_config,
                   const std::string& order, uint64_t seed, std::vector<double> gradient_variance = {},
                   const CodeBasis* code_basis = nullptr);

}  // namespace genzoo::priors
