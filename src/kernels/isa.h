// The instruction sets the hand-written kernels are compiled for and the one they run with.
// Every kernel source under src/kernels/ is compiled once per target by Highway (foreach_target.h):
// AVX-512 (AVX3), AVX2+FMA, SSE4 and a portable fallback on x86-64, NEON on Arm. The fallback is
// Highway's EMU128 (4 lanes in plain C++) or, with GCC before 12.3 (whose EMU128 code is miscompiled,
// GCC bug 106322), SCALAR (one lane). A call
// dispatches at run time to the best target the CPU supports, so one binary runs on every node of a
// cluster. Results differ in the last bits between targets (FMA contraction, reciprocal estimates,
// summation order): zoo.h5, `genzoo bench` and `train --timings` record the target by name.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace genzoo::kernels {

// The target the kernels dispatch to now, e.g. "AVX3" (AVX-512), "AVX2", "SSE4", "SCALAR", "NEON".
std::string isa();

// Floats per vector register on that target (16 on AVX-512, 8 on AVX2, 4 on SSE4, NEON, EMU128, 1 on SCALAR).
int64_t float_lanes();

// Whether the target is a vector unit with fused multiply-add at least 8 floats wide, i.e. one on
// which the hand-written kernels beat LibTorch's path (--kernels auto uses them only there).
bool isa_has_wide_fma();

// Every target compiled into this binary that this CPU can run, best first.
std::vector<std::string> available_isas();

// Restricts dispatch to `name` (one of available_isas(), case-insensitive) or, with "auto", lifts the
// restriction. Throws UsageError naming the request and the available targets otherwise. Affects
// every later kernel call in the process (tests use it to run each kernel under every target).
void use_isa(const std::string& name);

// Applies GENZOO_ISA from the environment when set (the command line calls it once at start).
void use_isa_from_environment();

}  // namespace genzoo::kernels
