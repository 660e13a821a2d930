// W1 kernels side by side: the five GEMMs of one W1 training step (linear_ae 784 -> 16 -> 784, batch 64,
// MSE; src/train/fast_linear_ae.cpp, model_step) computed three ways in one process:
//   hwy/<ISA>  genzoo's Highway kernels (src/kernels/linear.cpp), once per instruction set the CPU runs
//   libxsmm    libxsmm 1.17 JIT kernels (libxsmm_smmdispatch, dispatched once, before timing)
//   openblas   OpenBLAS cblas_sgemm, one thread
// Same shapes and data layout as fast_linear_ae.cpp (row-major; encoder stored transposed [784, k],
// decoder transposed [k, 784]). The libraries have no fused loss epilogue: decode_residual's
// grad = scale * (code * w2t + b2 - x), its column sums and the squared error are a separate pass over
// the 64 x 784 output, written here as a plain loop compiled for AVX-512, AVX2 or SSE2 (W1_EPILOGUE).
// The results of all variants are checked against a double-precision reference before timing.
// Build and run: bench/build_w1_kernels.sh (its header has the commands).
#include <libxsmm.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/isa.h"
#include "kernels/linear.h"

extern "C" {
// OpenBLAS's cblas (libopenblas.so.0); declared here so that no -dev package is needed.
enum CBLAS_ORDER { CblasRowMajor = 101, CblasColMajor = 102 };
enum CBLAS_TRANSPOSE { CblasNoTrans = 111, CblasTrans = 112 };
void cblas_sgemm(CBLAS_ORDER, CBLAS_TRANSPOSE, CBLAS_TRANSPOSE, int m, int n, int k, float alpha, const float* a,
                 int lda, const float* b, int ldb, float beta, float* c, int ldc);
void openblas_set_num_threads(int);
char* openblas_get_corename(void);
char* openblas_get_config(void);
}

namespace {

constexpr int B = 64, D = 784, K = 16;
// FLOPs of the step's five GEMMs (each 64 x 784 x 16 multiply-adds). `genzoo bench` counts
// 3 x 2 x 2 x 784 x 16 x 64 per step (six GEMMs' worth); this benchmark counts the five it runs.
constexpr double kFlops = 5.0 * 2.0 * B * D * K;

template <class T>
struct Aligned {
  T* p;
  size_t n;
  explicit Aligned(size_t count) : p(static_cast<T*>(std::aligned_alloc(64, (count * sizeof(T) + 63) / 64 * 64))), n(count) {
    std::fill(p, p + n, T(0));
  }
  ~Aligned() { std::free(p); }
  Aligned(const Aligned&) = delete;
  Aligned& operator=(const Aligned&) = delete;
  T* data() { return p; }
  const T* data() const { return p; }
  T& operator[](size_t i) { return p[i]; }
  const T& operator[](size_t i) const { return p[i]; }
};

// Inputs of one step (shared by all variants) and the outputs of one variant.
struct Inputs {
  Aligned<float> x{B * D}, w1t{D * K}, b1{K}, w2t{K * D}, b2{D};
};
struct Outputs {
  Aligned<float> code{B * K}, grad{B * D}, gb2{D}, gw2t{K * D}, gcode{B * K}, gw1t{D * K};
  Aligned<float> w2{D * K};  // libxsmm only: w2t transposed (its JIT has no TRANS_A)
  double sq = 0;
};

constexpr float kScale = 2.0f / (B * D);

// ---- decode_residual's epilogue for the library variants ----------------------------------------
// y [B, D] (the GEMM's product, no bias) -> grad = scale * (y + b2 - t), gb2 = column sums of grad;
// returns sum (y + b2 - t)^2.
#define EPILOGUE_BODY                                                          \
  std::memset(gb2, 0, sizeof(float) * D);                                      \
  float sq = 0.0f;                                                             \
  for (int r = 0; r < B; ++r) {                                                \
    float* g = y + r * D;                                                      \
    const float* tr = t + r * D;                                               \
    _Pragma("omp simd reduction(+ : sq)") for (int c = 0; c < D; ++c) {        \
      const float diff = g[c] + b2[c] - tr[c];                                 \
      sq += diff * diff;                                                       \
      const float gv = kScale * diff;                                          \
      g[c] = gv;                                                               \
      gb2[c] += gv;                                                            \
    }                                                                          \
  }                                                                            \
  return sq;

__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma"))) double epilogue_avx512(
    float* y, const float* b2, const float* t, float* gb2) {
  EPILOGUE_BODY
}
__attribute__((target("avx2,fma"))) double epilogue_avx2(float* y, const float* b2, const float* t, float* gb2) {
  EPILOGUE_BODY
}
double epilogue_sse2(float* y, const float* b2, const float* t, float* gb2) { EPILOGUE_BODY }

using Epilogue = double (*)(float*, const float*, const float*, float*);
Epilogue g_epilogue = epilogue_sse2;
std::string g_epilogue_name = "sse2";

void choose_epilogue() {
  __builtin_cpu_init();
  std::string want = std::getenv("W1_EPILOGUE") ? std::getenv("W1_EPILOGUE") : "";
  if (want.empty()) want = __builtin_cpu_supports("avx512f") ? "avx512" : __builtin_cpu_supports("avx2") ? "avx2" : "sse2";
  if (want == "avx512" && __builtin_cpu_supports("avx512f")) {
    g_epilogue = epilogue_avx512;
  } else if (want == "avx2" && __builtin_cpu_supports("avx2")) {
    g_epilogue = epilogue_avx2;
  } else {
    want = "sse2";
    g_epilogue = epilogue_sse2;
  }
  g_epilogue_name = want;
}

void add_bias_rows(float* out, const float* bias) {
  for (int r = 0; r < B; ++r)
    for (int j = 0; j < K; ++j) out[r * K + j] += bias[j];
}

// ---- (a) genzoo's Highway kernels, called as model_step calls them -------------------------------
void step_hwy(const Inputs& in, Outputs& o) {
  namespace k = genzoo::kernels;
  k::rows_times_narrow(in.x.data(), B, D, in.w1t.data(), K, in.b1.data(), o.code.data());
  o.sq = k::decode_residual(o.code.data(), B, K, in.w2t.data(), in.b2.data(), D, in.x.data(), kScale, o.grad.data(),
                            o.gb2.data());
  k::narrow_transposed_times_rows(o.code.data(), B, K, o.grad.data(), D, o.gw2t.data());
  k::rows_times_rows(o.grad.data(), B, D, in.w2t.data(), K, o.gcode.data());
  k::transposed_times_narrow(in.x.data(), B, D, o.gcode.data(), K, o.gw1t.data());
}

// ---- (b) libxsmm: row-major C = A * B computed as column-major C^T = B^T * A^T ------------------
struct Xsmm {
  libxsmm_smmfunction enc = nullptr;    // code^T (16x64)   = w1t^T (16x784, ld 16) * x^T (784x64, ld 784); also
                                        // gcode^T (16x64) = w2 (16x784, ld 16) * grad^T (784x64, ld 784)
  libxsmm_smmfunction dec = nullptr;    // y^T (784x64)     = w2t^T (784x16, ld 784) * code^T (16x64, ld 16)
  libxsmm_smmfunction gw2 = nullptr;    // gw2t^T (784x16)  = grad^T (784x64, ld 784) * (code^T)^T [TRANS_B, ld 16]
  libxsmm_smmfunction gw1 = nullptr;    // gw1t^T (16x784)  = gcode^T (16x64, ld 16) * (x^T)^T [TRANS_B, ld 784]
  libxsmm_smmfunction trans_a = nullptr;  // what gcode would need without the transpose of w2t (NULL in 1.17)

  static libxsmm_smmfunction get(int m, int n, int k, int lda, int ldb, int ldc, int flags) {
    const float alpha = 1.0f, beta = 0.0f;
    const libxsmm_blasint la = lda, lb = ldb, lc = ldc;
    const int f = flags | LIBXSMM_GEMM_FLAG_BETA_0, prefetch = LIBXSMM_PREFETCH_NONE;
    return libxsmm_smmdispatch(m, n, k, &la, &lb, &lc, &alpha, &beta, &f, &prefetch);
  }
  void dispatch() {
    enc = get(K, B, D, K, D, K, 0);
    dec = get(D, B, K, D, K, D, 0);
    gw2 = get(D, K, B, D, K, D, LIBXSMM_GEMM_FLAG_TRANS_B);
    gw1 = get(K, D, B, K, D, K, LIBXSMM_GEMM_FLAG_TRANS_B);
    trans_a = get(K, B, D, D, D, K, LIBXSMM_GEMM_FLAG_TRANS_A);
    if (!enc || !dec || !gw2 || !gw1) {
      std::fprintf(stderr, "libxsmm: a JIT dispatch returned NULL\n");
      std::exit(1);
    }
  }
};
Xsmm g_xsmm;

void step_xsmm(const Inputs& in, Outputs& o) {
  const Xsmm& x = g_xsmm;
  x.enc(in.w1t.data(), in.x.data(), o.code.data());
  add_bias_rows(o.code.data(), in.b1.data());
  x.dec(in.w2t.data(), o.code.data(), o.grad.data());
  o.sq = g_epilogue(o.grad.data(), in.b2.data(), in.x.data(), o.gb2.data());
  x.gw2(o.grad.data(), o.code.data(), o.gw2t.data());
  // No TRANS_A JIT kernel in 1.17: w2t [16, 784] -> w2 [784, 16] (libxsmm's own transpose), then NN.
  libxsmm_otrans(o.w2.data(), in.w2t.data(), sizeof(float), D, K, D, K);
  x.enc(o.w2.data(), o.grad.data(), o.gcode.data());
  x.gw1(o.gcode.data(), in.x.data(), o.gw1t.data());
}

// ---- (c) OpenBLAS, row-major cblas ---------------------------------------------------------------
void step_blas(const Inputs& in, Outputs& o) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, K, D, 1.0f, in.x.data(), D, in.w1t.data(), K, 0.0f,
              o.code.data(), K);
  add_bias_rows(o.code.data(), in.b1.data());
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, D, K, 1.0f, o.code.data(), K, in.w2t.data(), D, 0.0f,
              o.grad.data(), D);
  o.sq = g_epilogue(o.grad.data(), in.b2.data(), in.x.data(), o.gb2.data());
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, D, B, 1.0f, o.code.data(), K, o.grad.data(), D, 0.0f,
              o.gw2t.data(), D);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, K, D, 1.0f, o.grad.data(), D, in.w2t.data(), D, 0.0f,
              o.gcode.data(), K);
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, K, B, 1.0f, in.x.data(), D, o.gcode.data(), K, 0.0f,
              o.gw1t.data(), K);
}

// ---- double-precision reference --------------------------------------------------------------------
struct Reference {
  std::vector<double> code, grad, gb2, gw2t, gcode, gw1t;
  double sq = 0;
};

Reference reference(const Inputs& in) {
  Reference r;
  r.code.assign(B * K, 0);
  r.grad.assign(B * D, 0);
  r.gb2.assign(D, 0);
  r.gw2t.assign(K * D, 0);
  r.gcode.assign(B * K, 0);
  r.gw1t.assign(D * K, 0);
  for (int i = 0; i < B; ++i)
    for (int j = 0; j < K; ++j) {
      double s = in.b1[j];
      for (int d = 0; d < D; ++d) s += double(in.x[i * D + d]) * in.w1t[d * K + j];
      r.code[i * K + j] = s;
    }
  for (int i = 0; i < B; ++i)
    for (int d = 0; d < D; ++d) {
      double y = in.b2[d];
      for (int j = 0; j < K; ++j) y += r.code[i * K + j] * in.w2t[j * D + d];
      const double diff = y - in.x[i * D + d];
      r.sq += diff * diff;
      r.grad[i * D + d] = kScale * diff;
      r.gb2[d] += kScale * diff;
    }
  for (int j = 0; j < K; ++j)
    for (int d = 0; d < D; ++d) {
      double s = 0;
      for (int i = 0; i < B; ++i) s += r.code[i * K + j] * r.grad[i * D + d];
      r.gw2t[j * D + d] = s;
    }
  for (int i = 0; i < B; ++i)
    for (int j = 0; j < K; ++j) {
      double s = 0;
      for (int d = 0; d < D; ++d) s += r.grad[i * D + d] * in.w2t[j * D + d];
      r.gcode[i * K + j] = s;
    }
  for (int d = 0; d < D; ++d)
    for (int j = 0; j < K; ++j) {
      double s = 0;
      for (int i = 0; i < B; ++i) s += double(in.x[i * D + d]) * r.gcode[i * K + j];
      r.gw1t[d * K + j] = s;
    }
  return r;
}

// max |a - ref| / max |ref| (normwise relative difference).
double rel(const float* a, const std::vector<double>& ref) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    diff = std::max(diff, std::fabs(a[i] - ref[i]));
    scale = std::max(scale, std::fabs(ref[i]));
  }
  return diff / scale;
}

// The largest relative difference over all outputs of one step; prints per output when verbose.
double check(const char* name, const Outputs& o, const Reference& r) {
  const double d[7] = {rel(o.code.data(), r.code),   rel(o.grad.data(), r.grad),   rel(o.gb2.data(), r.gb2),
                       rel(o.gw2t.data(), r.gw2t),   rel(o.gcode.data(), r.gcode), rel(o.gw1t.data(), r.gw1t),
                       std::fabs(o.sq - r.sq) / r.sq};
  const double worst = *std::max_element(d, d + 7);
  std::printf("check %-12s max rel diff vs fp64: %.2e  (code %.1e grad %.1e gb2 %.1e gw2t %.1e gcode %.1e gw1t %.1e sq %.1e)\n",
              name, worst, d[0], d[1], d[2], d[3], d[4], d[5], d[6]);
  return worst;
}

double max_rel_between(const Outputs& a, const Outputs& b) {
  auto one = [](const Aligned<float>& x, const Aligned<float>& y) {
    double diff = 0, scale = 0;
    for (size_t i = 0; i < x.n; ++i) {
      diff = std::max(diff, double(std::fabs(x[i] - y[i])));
      scale = std::max(scale, double(std::fabs(y[i])));
    }
    return diff / scale;
  };
  return std::max({one(a.code, b.code), one(a.grad, b.grad), one(a.gb2, b.gb2), one(a.gw2t, b.gw2t),
                   one(a.gcode, b.gcode), one(a.gw1t, b.gw1t), std::fabs(a.sq - b.sq) / std::fabs(b.sq)});
}

// ---- timing ------------------------------------------------------------------------------------------
using Clock = std::chrono::steady_clock;

double seconds_of(const std::function<void()>& f, long reps) {
  const auto t0 = Clock::now();
  for (long i = 0; i < reps; ++i) f();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct Timing {
  double best_us, median_us;
};

// Microseconds per call: repetitions sized to ~60 ms, best and median of 7.
Timing time_us(const std::function<void()>& f) {
  for (int i = 0; i < 50; ++i) f();
  long reps = 100;
  double t = seconds_of(f, reps);
  reps = std::max<long>(20, static_cast<long>(reps * 0.06 / std::max(t, 1e-6)));
  std::vector<double> us;
  for (int i = 0; i < 7; ++i) us.push_back(seconds_of(f, reps) / reps * 1e6);
  std::sort(us.begin(), us.end());
  return {us.front(), us[us.size() / 2]};
}

double sgemm_peak_gflops(int n) {
  Aligned<float> a(size_t(n) * n), b(size_t(n) * n), c(size_t(n) * n);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1, 1);
  for (size_t i = 0; i < a.n; ++i) a[i] = u(rng), b[i] = u(rng);
  double best = 1e30;
  for (int i = 0; i < 4; ++i) {  // first call warms up; best of the other 3
    const auto t0 = Clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (i > 0) best = std::min(best, s);
  }
  return 2.0 * n * n * n / best / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  const int peak_n = argc > 1 ? std::atoi(argv[1]) : 2048;
  openblas_set_num_threads(1);
  libxsmm_init();
  choose_epilogue();
  g_xsmm.dispatch();

  std::printf("openblas: core %s, config %s\n", openblas_get_corename(), openblas_get_config());
  if (std::string(openblas_get_corename()) == "Prescott") {
    std::printf("  (Prescott = SSE3 kernels: OpenBLAS 0.3.21 does not know this CPU model; set OPENBLAS_CORETYPE, "
                "e.g. SkylakeX on AVX-512 or Haswell on AVX2)\n");
  }
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    char load[128] = {};
    if (std::fgets(load, sizeof load, f)) std::printf("load average at start: %s", load);
    std::fclose(f);
  }
  std::printf("libxsmm %s: target arch %s (LIBXSMM_TARGET=%s); TRANS_A kernel %s\n", LIBXSMM_VERSION,
              libxsmm_get_target_arch(), std::getenv("LIBXSMM_TARGET") ? std::getenv("LIBXSMM_TARGET") : "unset",
              g_xsmm.trans_a ? "available" : "not available (w2t transposed per step with libxsmm_otrans)");
  std::printf("library epilogue (decode_residual's loss gradient): %s loop\n", g_epilogue_name.c_str());
  const std::vector<std::string> isas = genzoo::kernels::available_isas();
  std::printf("highway targets:");
  for (const auto& s : isas) std::printf(" %s", s.c_str());
  std::printf("\n");

  Inputs in;
  std::mt19937 rng(12345);
  std::uniform_real_distribution<float> pixel(0.0f, 1.0f), weight(-0.0357f, 0.0357f), bias(-0.05f, 0.05f);
  for (int i = 0; i < B * D; ++i) in.x[i] = pixel(rng) < 0.8f ? 0.0f : pixel(rng);  // MNIST-like: mostly zero
  for (int i = 0; i < D * K; ++i) in.w1t[i] = weight(rng);
  for (int i = 0; i < K * D; ++i) in.w2t[i] = 7 * weight(rng);  // U(+-1/sqrt(16)), like nn.Linear(16, 784)
  for (int i = 0; i < K; ++i) in.b1[i] = bias(rng);
  for (int i = 0; i < D; ++i) in.b2[i] = bias(rng);
  const Reference ref = reference(in);

  struct Variant {
    std::string name;
    std::function<void(const Inputs&, Outputs&)> step;
    std::string isa;  // Highway target to restrict to, or empty
  };
  std::vector<Variant> variants;
  for (const auto& isa : isas) variants.push_back({"hwy/" + isa, step_hwy, isa});
  variants.push_back({"libxsmm", step_xsmm, ""});
  variants.push_back({"openblas", step_blas, ""});

  // Correctness first: every variant against fp64 and against OpenBLAS.
  std::vector<std::unique_ptr<Outputs>> outs;
  double worst = 0;
  for (auto& v : variants) {
    if (!v.isa.empty()) genzoo::kernels::use_isa(v.isa);
    outs.push_back(std::make_unique<Outputs>());
    v.step(in, *outs.back());
    worst = std::max(worst, check(v.name.c_str(), *outs.back(), ref));
    genzoo::kernels::use_isa("auto");
  }
  double worst_pair = 0;
  for (size_t i = 0; i + 1 < outs.size(); ++i) worst_pair = std::max(worst_pair, max_rel_between(*outs[i], *outs.back()));
  std::printf("max rel diff between variants (vs openblas): %.2e; vs fp64: %.2e -> %s\n", worst_pair, worst,
              worst < 1e-5 && worst_pair < 1e-5 ? "OK" : "MISMATCH");
  if (!(worst < 1e-5 && worst_pair < 1e-5)) return 1;

  double peak = sgemm_peak_gflops(peak_n);

  // Whole steps, interleaved: 15 rounds, each timing a ~20 ms block of every variant in turn, so that a
  // burst of load from another process hits all variants alike. best = fastest block, median over blocks.
  std::vector<std::unique_ptr<Outputs>> work;
  std::vector<long> reps(variants.size());
  std::vector<std::vector<double>> block_us(variants.size());
  for (size_t i = 0; i < variants.size(); ++i) {
    auto& v = variants[i];
    if (!v.isa.empty()) genzoo::kernels::use_isa(v.isa);
    work.push_back(std::make_unique<Outputs>());
    Outputs& o = *work.back();
    for (int w = 0; w < 50; ++w) v.step(in, o);
    const double t = seconds_of([&] { v.step(in, o); }, 100);
    reps[i] = std::max<long>(20, static_cast<long>(100 * 0.02 / std::max(t, 1e-6)));
    genzoo::kernels::use_isa("auto");
  }
  for (int round = 0; round < 15; ++round) {
    for (size_t i = 0; i < variants.size(); ++i) {
      auto& v = variants[i];
      if (!v.isa.empty()) genzoo::kernels::use_isa(v.isa);
      Outputs& o = *work[i];
      block_us[i].push_back(seconds_of([&] { v.step(in, o); }, reps[i]) / reps[i] * 1e6);
      genzoo::kernels::use_isa("auto");
    }
  }
  peak = std::max(peak, sgemm_peak_gflops(peak_n));  // again after the steps: best of 6
  std::printf("sgemm %d^3 (openblas, 1 thread, best of 3 before and 3 after the steps): %.2f GFLOP/s\n\n", peak_n,
              peak);

  std::printf("%-12s %10s %10s %9s %6s | %s\n", "variant", "best_us", "median_us", "GFLOP/s", "peak",
              "per-GEMM best us: enc  dec+loss  gW2  gcode  gW1");
  for (auto& v : variants) {
    if (!v.isa.empty()) genzoo::kernels::use_isa(v.isa);
    Outputs o;
    std::vector<double>& blocks = block_us[&v - variants.data()];
    std::sort(blocks.begin(), blocks.end());
    const Timing t{blocks.front(), blocks[blocks.size() / 2]};
    // Per-GEMM breakdown (each op alone, repeated; inputs from one full step).
    v.step(in, o);
    namespace k = genzoo::kernels;
    std::function<void()> ops[5];
    if (!v.isa.empty()) {
      ops[0] = [&] { k::rows_times_narrow(in.x.data(), B, D, in.w1t.data(), K, in.b1.data(), o.code.data()); };
      ops[1] = [&] {
        o.sq = k::decode_residual(o.code.data(), B, K, in.w2t.data(), in.b2.data(), D, in.x.data(), kScale,
                                  o.grad.data(), o.gb2.data());
      };
      ops[2] = [&] { k::narrow_transposed_times_rows(o.code.data(), B, K, o.grad.data(), D, o.gw2t.data()); };
      ops[3] = [&] { k::rows_times_rows(o.grad.data(), B, D, in.w2t.data(), K, o.gcode.data()); };
      ops[4] = [&] { k::transposed_times_narrow(in.x.data(), B, D, o.gcode.data(), K, o.gw1t.data()); };
    } else if (v.name == "libxsmm") {
      const Xsmm& x = g_xsmm;
      ops[0] = [&] { x.enc(in.w1t.data(), in.x.data(), o.code.data()); add_bias_rows(o.code.data(), in.b1.data()); };
      ops[1] = [&] {
        x.dec(in.w2t.data(), o.code.data(), o.grad.data());
        o.sq = g_epilogue(o.grad.data(), in.b2.data(), in.x.data(), o.gb2.data());
      };
      ops[2] = [&] { x.gw2(o.grad.data(), o.code.data(), o.gw2t.data()); };
      ops[3] = [&] {
        libxsmm_otrans(o.w2.data(), in.w2t.data(), sizeof(float), D, K, D, K);
        x.enc(o.w2.data(), o.grad.data(), o.gcode.data());
      };
      ops[4] = [&] { x.gw1(o.gcode.data(), in.x.data(), o.gw1t.data()); };
    } else {
      ops[0] = [&] {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, K, D, 1.0f, in.x.data(), D, in.w1t.data(), K, 0.0f,
                    o.code.data(), K);
        add_bias_rows(o.code.data(), in.b1.data());
      };
      ops[1] = [&] {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, D, K, 1.0f, o.code.data(), K, in.w2t.data(), D, 0.0f,
                    o.grad.data(), D);
        o.sq = g_epilogue(o.grad.data(), in.b2.data(), in.x.data(), o.gb2.data());
      };
      ops[2] = [&] {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, D, B, 1.0f, o.code.data(), K, o.grad.data(), D, 0.0f,
                    o.gw2t.data(), D);
      };
      ops[3] = [&] {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, K, D, 1.0f, o.grad.data(), D, in.w2t.data(), D, 0.0f,
                    o.gcode.data(), K);
      };
      ops[4] = [&] {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, K, B, 1.0f, in.x.data(), D, o.gcode.data(), K, 0.0f,
                    o.gw1t.data(), K);
      };
    }
    double per[5];
    // ops[1] overwrites grad with the gradient from its own y, same values each call: safe to repeat.
    for (int i = 0; i < 5; ++i) per[i] = time_us(ops[i]).best_us;
    const double gflops = kFlops / t.best_us / 1e3;
    std::printf("%-12s %10.2f %10.2f %9.2f %5.1f%% | %6.2f %6.2f %6.2f %6.2f %6.2f\n", v.name.c_str(), t.best_us,
                t.median_us, gflops, 100.0 * gflops / peak, per[0], per[1], per[2], per[3], per[4]);
    std::fflush(stdout);
    genzoo::kernels::use_isa("auto");
  }
  std::printf("\n(best_us/median_us: interleaved whole steps; GFLOP/s and peak from best_us; %.3f MFLOP per step = "
              "five 64x784x16 GEMMs; per-GEMM: each op alone, best of 7 blocks, sequential)\n", kFlops / 1e6);
  return 0;
}
