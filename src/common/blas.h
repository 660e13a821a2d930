// CBLAS takes its sizes as int; genzoo's are int64_t. One conversion for every call site (the sizes passed
// are a model's layers and a fit's points, far below INT_MAX).
#pragma once

#include <cstdint>

namespace genzoo {

inline int blas_size(int64_t n) { return static_cast<int>(n); }

}  // namespace genzoo
