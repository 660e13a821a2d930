#include "kernels/likelihood.h"

#include <cmath>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/likelihood.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"
#include "kernels/simd-inl.h"

HWY_BEFORE_NAMESPACE();
namespace genzoo::kernels::HWY_NAMESPACE {
namespace {

// Calls per(l, x) -> {loss, grad} over whole vectors and writes grad (which may be logits itself); the
// tail of fewer than a vector's lanes goes through the same code on a zero-padded copy (its loss masked out).
template <class PerVector>
double fused_loss(const float* logits, const float* HWY_RESTRICT target, int64_t n, float* grad,
                  PerVector per) {
  const FloatTag d;
  FloatVec total = hn::Zero(d);
  int64_t i = 0;
  for (; i + kFloatLanes <= n; i += kFloatLanes) {
    FloatVec g;
    total = hn::Add(total, per(hn::LoadU(d, logits + i), hn::LoadU(d, target + i), &g));
    hn::StoreU(g, d, grad + i);
  }
  double sum = static_cast<double>(sum_of_lanes(total));
  if (i < n) {
    HWY_ALIGN float l[kFloatLanes] = {}, x[kFloatLanes] = {}, g_out[kFloatLanes], loss[kFloatLanes];
    for (int64_t k = 0; k < n - i; ++k) l[k] = logits[i + k], x[k] = target[i + k];
    FloatVec g;
    hn::Store(per(hn::Load(d, l), hn::Load(d, x), &g), d, loss);
    hn::Store(g, d, g_out);
    for (int64_t k = 0; k < n - i; ++k) grad[i + k] = g_out[k], sum += loss[k];
  }
  return sum;
}

double bernoulli_logit_loss_impl(const float* logits, const float* target, int64_t n, float scale, float* d_logits) {
  const FloatTag d;
  const FloatVec one = hn::Set(d, 1.0f), zero = hn::Zero(d), s = hn::Set(d, scale);
  return fused_loss(logits, target, n, d_logits, [&](FloatVec l, FloatVec x, FloatVec* g) {
    const FloatVec e = exp_vec(hn::Neg(hn::Abs(l)));  // e^{-|l|} in (0, 1]: no overflow either way
    const FloatVec inv = reciprocal(hn::Add(one, e));  // σ(|l|), in [1/2, 1)
    const FloatVec sigma = hn::IfThenElse(l >= zero, inv, hn::Mul(e, inv));
    *g = hn::Mul(s, hn::Sub(sigma, x));
    // log1p(e^{-|l|}) = -log σ(|l|): one logarithm of a value in [1/2, 1), without Log1p's two
    // divisions (absolute error ~1e-7 where e is tiny and the term is negligible anyway).
    return hn::Sub(hn::Sub(hn::Max(l, zero), hn::Mul(l, x)), hn::Log(d, inv));
  });
}

double sigmoid_squared_loss_impl(const float* logits, const float* target, int64_t n, float scale, float* d_logits) {
  const FloatTag d;
  const FloatVec one = hn::Set(d, 1.0f), half = hn::Set(d, 0.5f), s = hn::Set(d, scale);
  return fused_loss(logits, target, n, d_logits, [&](FloatVec l, FloatVec x, FloatVec* g) {
    const FloatVec sigma = reciprocal(hn::Add(one, exp_vec(hn::Neg(l))));
    const FloatVec diff = hn::Sub(sigma, x);
    *g = hn::Mul(hn::Mul(s, diff), hn::Mul(sigma, hn::Sub(one, sigma)));
    return hn::Mul(half, hn::Mul(diff, diff));
  });
}

// Pixel blocks outside, images inside: e^{-v} is computed once per pixel and the log variance's gradient
// sums stay in a register. The last pixels, fewer than a vector's lanes, go through the scalar formulas.
double learned_gaussian_loss_impl(const float* logits, const float* HWY_RESTRICT target, int64_t rows, int64_t pixels,
                                  const float* HWY_RESTRICT logvar, float scale, float* d_logits, float* HWY_RESTRICT d_logvar) {
  const FloatTag d;
  const FloatVec one = hn::Set(d, 1.0f), half = hn::Set(d, 0.5f), s = hn::Set(d, scale);
  FloatVec total = hn::Zero(d);
  int64_t p = 0;
  for (; p + kFloatLanes <= pixels; p += kFloatLanes) {
    const FloatVec v = hn::LoadU(d, logvar + p), precision = exp_vec(hn::Neg(v));
    FloatVec g_v = hn::Zero(d);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = r * pixels + p;
      const FloatVec sigma = reciprocal(hn::Add(one, exp_vec(hn::Neg(hn::LoadU(d, logits + i)))));
      const FloatVec diff = hn::Sub(sigma, hn::LoadU(d, target + i));
      const FloatVec weighted = hn::Mul(hn::Mul(diff, diff), precision);
      total = hn::Add(total, hn::Mul(half, hn::Add(weighted, v)));
      g_v = hn::Add(g_v, hn::Mul(half, hn::Sub(one, weighted)));
      hn::StoreU(hn::Mul(hn::Mul(s, hn::Mul(diff, precision)), hn::Mul(sigma, hn::Sub(one, sigma))), d, d_logits + i);
    }
    hn::StoreU(hn::Mul(s, g_v), d, d_logvar + p);
  }
  double sum = static_cast<double>(sum_of_lanes(total));
  for (; p < pixels; ++p) {
    const float precision = std::exp(-logvar[p]);
    float g_v = 0.0f;
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = r * pixels + p;
      const float sigma = 1.0f / (1.0f + std::exp(-logits[i]));
      const float diff = sigma - target[i], weighted = diff * diff * precision;
      sum += 0.5 * (weighted + logvar[p]);
      g_v += 0.5f * (1.0f - weighted);
      d_logits[i] = scale * diff * precision * sigma * (1.0f - sigma);
    }
    d_logvar[p] = scale * g_v;
  }
  return sum;
}

}  // namespace
}  // namespace genzoo::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace genzoo::kernels {

HWY_EXPORT(bernoulli_logit_loss_impl);
HWY_EXPORT(sigmoid_squared_loss_impl);
HWY_EXPORT(learned_gaussian_loss_impl);

double bernoulli_logit_loss(const float* logits, const float* target, int64_t n, float scale, float* d_logits) {
  return HWY_DYNAMIC_DISPATCH(bernoulli_logit_loss_impl)(logits, target, n, scale, d_logits);
}

double sigmoid_squared_loss(const float* logits, const float* target, int64_t n, float scale, float* d_logits) {
  return HWY_DYNAMIC_DISPATCH(sigmoid_squared_loss_impl)(logits, target, n, scale, d_logits);
}

double learned_gaussian_loss(const float* logits, const float* target, int64_t rows, int64_t pixels, const float* logvar,
                             float scale, float* d_logits, float* d_logvar) {
  return HWY_DYNAMIC_DISPATCH(learned_gaussian_loss_impl)(logits, target, rows, pixels, logvar, scale, d_logits, d_logvar);
}

}  // namespace genzoo::kernels
#endif  // HWY_ONCE
