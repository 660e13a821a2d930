#!/usr/bin/env bash
# Builds bench/w1_kernels (the five GEMMs of one W1 step: genzoo's Highway kernels vs libxsmm vs
# OpenBLAS; see the header of bench/w1_kernels.cpp). Standalone: no LibTorch, no CMake.
#
# Needs (Debian 12): libhwy-dev (already a genzoo dependency), libopenblas0-pthread (already present
# behind libblas.so.3) and, for this benchmark only, libxsmm-dev:
#     apt-get install libxsmm-dev          # 1.17, static libraries only
# (libxsmm-dev is deliberately not in scripts/setup: genzoo does not use it.)
#
# Build and run (one core, one BLAS thread; the argument is the SGEMM peak size, default 2048):
#     bench/build_w1_kernels.sh [outdir]              # -> build/bench-w1/w1_kernels
#     OPENBLAS_NUM_THREADS=1 taskset -c 1 build/bench-w1/w1_kernels 2048
# OpenBLAS 0.3.21 (Debian 12) does not know Emerald Rapids (family 6 model 207, this VM) and falls back
# to its Prescott (SSE3) kernels: name the core, OPENBLAS_CORETYPE=SkylakeX, for the AVX-512 peak.
#     OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=SkylakeX taskset -c 1 build/bench-w1/w1_kernels 2048
# AVX2-only emulation of the libraries (Highway is restricted per variant by the program itself):
#     OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=Haswell LIBXSMM_TARGET=hsw W1_EPILOGUE=avx2 \
#         taskset -c 1 build/bench-w1/w1_kernels 2048
#
# Options (environment):
#   KERNELS_SRC=dir     take kernels/linear.cpp, kernels/isa.cpp from dir (default: this tree's src)
#   W1_BASELINE_SSE4=1  compile with an SSE4 baseline (-msse4.2 -mpclmul -maes), dropping Highway's
#                       portable fallback target (SCALAR with GCC < 12.3). Needed only for the kernels of
#                       commit bce586b (the first measurement below); later ones compile for SCALAR too.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
out="${1:-$root/build/bench-w1}"  # build/ is git-ignored
src="${KERNELS_SRC:-$root/src}"
baseline=()
[[ "${W1_BASELINE_SSE4:-0}" == 1 ]] && baseline=(-msse4.2 -mpclmul -maes)
mkdir -p "$out"
# Same flags as the project's Release build (CMakeLists.txt): -O3, portable (no -march=native), the
# Highway target list of genzoo_lib. -fopenmp-simd only for the library variants' epilogue loop.
g++ -std=c++17 -O3 -DNDEBUG -fno-math-errno -fopenmp-simd -Wall -Wextra -Wno-unused-parameter "${baseline[@]}" \
    -DHWY_DISABLED_TARGETS="(HWY_SSSE3|HWY_SVE|HWY_SVE2|HWY_SVE_256|HWY_SVE2_128)" \
    -I"$src" \
    "$here/w1_kernels.cpp" "$src/kernels/linear.cpp" "$src/kernels/isa.cpp" \
    -o "$out/w1_kernels" \
    -lhwy -lxsmm -l:libopenblas.so.0 -lpthread -lrt -ldl -lm
echo "built $out/w1_kernels (kernels from $src${baseline:+, SSE4 baseline})"
