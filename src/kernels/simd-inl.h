// Shared per-target helpers of the kernel sources (included inside each source's HWY_NAMESPACE, once
// per target, by Highway's foreach_target mechanism; hence no include guard of the usual kind).
#if defined(GENZOO_KERNELS_SIMD_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef GENZOO_KERNELS_SIMD_INL_H_
#undef GENZOO_KERNELS_SIMD_INL_H_
#else
#define GENZOO_KERNELS_SIMD_INL_H_
#endif

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace genzoo::kernels::HWY_NAMESPACE {

namespace hn = hwy::HWY_NAMESPACE;
using FloatTag = hn::ScalableTag<float>;
using FloatVec = hn::Vec<FloatTag>;
// Floats per register on this target (compile time: the kernels use fixed-width targets only).
constexpr int64_t kFloatLanes = static_cast<int64_t>(hn::MaxLanes(FloatTag()));

// Vector registers of the target: a tile keeps about half of them as accumulators, the rest hold
// loaded operands and broadcasts (AVX-512 and AArch64 NEON have 32, AVX2 and SSE4 16).
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL || HWY_ARCH_ARM_A64
constexpr int kVectorRegisters = 32;
#else
constexpr int kVectorRegisters = 16;
#endif

// Unrolls a loop over a tile's registers early: left as a loop when GCC decides where the
// accumulator array lives, the array stays on the stack and is stored and reloaded around every tile.
#define GENZOO_UNROLL_TILE _Pragma("GCC unroll 16")

// out[i] = (accumulate ? out[i] : 0) + the sum of the lanes of v_i, i < 4: a transpose-and-add tree
// within 128-bit blocks, then the blocks folded together (3 shuffles and 3 adds per 4 sums, instead of
// 4 full reductions). The one-lane fallback target (HWY_SCALAR) just adds.
#if HWY_TARGET == HWY_SCALAR
HWY_INLINE void sums_of_four(FloatVec v0, FloatVec v1, FloatVec v2, FloatVec v3, float* out, bool accumulate) {
  const float sums[4] = {hn::GetLane(v0), hn::GetLane(v1), hn::GetLane(v2), hn::GetLane(v3)};
  for (int i = 0; i < 4; ++i) out[i] = (accumulate ? out[i] : 0.0f) + sums[i];
}
#else
template <class D>
HWY_INLINE hn::Vec<hn::FixedTag<float, 4>> fold_blocks(D d, hn::Vec<D> v) {
  if constexpr (hn::MaxLanes(D()) > 4) {
    const hn::Half<D> half;
    return fold_blocks(half, hn::Add(hn::LowerHalf(half, v), hn::UpperHalf(half, v)));
  } else {
    (void)d;
    return v;
  }
}

HWY_INLINE void sums_of_four(FloatVec v0, FloatVec v1, FloatVec v2, FloatVec v3, float* out, bool accumulate) {
  const FloatTag d;
  const hn::Repartition<double, FloatTag> dd;
  const hn::FixedTag<float, 4> d4;
  // Per block: [a0+a2, b0+b2, a1+a3, b1+b3] for (a, b) = (v0, v1), likewise (v2, v3).
  const FloatVec p01 = hn::Add(hn::InterleaveLower(d, v0, v1), hn::InterleaveUpper(d, v0, v1));
  const FloatVec p23 = hn::Add(hn::InterleaveLower(d, v2, v3), hn::InterleaveUpper(d, v2, v3));
  // Per block: the block's sums of v0, v1, v2, v3.
  const auto w01 = hn::BitCast(dd, p01), w23 = hn::BitCast(dd, p23);
  const FloatVec q = hn::Add(hn::BitCast(d, hn::InterleaveLower(dd, w01, w23)), hn::BitCast(d, hn::InterleaveUpper(dd, w01, w23)));
  auto sums = fold_blocks(d, q);
  if (accumulate) sums = hn::Add(sums, hn::LoadU(d4, out));
  hn::StoreU(sums, d4, out);
}
#endif

HWY_INLINE float sum_of_lanes(FloatVec v) { return hn::GetLane(hn::SumOfLanes(FloatTag(), v)); }

// Calls tile(std::integral_constant<int, W>{}, begin) over [begin, end) in tiles of Width, then the
// remainder as one narrower tile.
template <int Width, class Tile>
HWY_INLINE void width_tiles(int64_t begin, int64_t end, Tile&& tile) {
  for (; begin + Width <= end; begin += Width) tile(std::integral_constant<int, Width>{}, begin);
  if constexpr (Width > 1) {
    if (begin < end) width_tiles<Width - 1>(begin, end, tile);
  }
}

// 1 / v for v > 0: the target's reciprocal estimate refined by one Newton step (relative error ~1e-7
// from AVX-512's 14-bit estimate, ~5e-7 from AVX2's 12-bit one). Division shares one unpipelined unit
// with sqrt and ran several times slower in the kernels' elementwise passes.
HWY_INLINE FloatVec reciprocal(FloatVec v) {
  const FloatTag d;
  const FloatVec estimate = hn::ApproximateReciprocal(v);
  return hn::MulAdd(estimate, hn::NegMulAdd(v, estimate, hn::Set(d, 1.0f)), estimate);
}

// e^v for v in [-87, 88] (Cephes' expf polynomial, relative error ~1e-7); clamped outside (NaN stays NaN).
HWY_INLINE FloatVec exp_vec(FloatVec v) {
  const FloatTag d;
  const hn::RebindToSigned<FloatTag> di;
  v = hn::IfThenElse(v < hn::Set(d, -87.0f), hn::Set(d, -87.0f), v);
  v = hn::IfThenElse(v > hn::Set(d, 88.0f), hn::Set(d, 88.0f), v);
  const FloatVec round_shift = hn::Set(d, 12582912.0f);  // 1.5 * 2^23: adding and subtracting rounds to integer
  const FloatVec n = hn::Sub(hn::MulAdd(v, hn::Set(d, 1.44269504088896341f), round_shift), round_shift);
  const FloatVec r = hn::MulAdd(n, hn::Set(d, 2.12194440e-4f), hn::NegMulAdd(n, hn::Set(d, 0.693359375f), v));
  FloatVec p = hn::Set(d, 1.9875691500e-4f);
  p = hn::MulAdd(p, r, hn::Set(d, 1.3981999507e-3f));
  p = hn::MulAdd(p, r, hn::Set(d, 8.3334519073e-3f));
  p = hn::MulAdd(p, r, hn::Set(d, 4.1665795894e-2f));
  p = hn::MulAdd(p, r, hn::Set(d, 1.6666665459e-1f));
  p = hn::MulAdd(p, r, hn::Set(d, 5.0000001201e-1f));
  p = hn::Add(hn::MulAdd(hn::Mul(p, r), r, r), hn::Set(d, 1.0f));
  const auto exponent = hn::ShiftLeft<23>(hn::Add(hn::ConvertTo(di, n), hn::Set(di, 127)));
  return hn::Mul(p, hn::BitCast(d, exponent));
}

}  // namespace genzoo::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // GENZOO_KERNELS_SIMD_INL_H_
