#include "dist/resources.h"

#include <dlfcn.h>
#include <sched.h>
#include <unistd.h>

#include <torch/torch.h>

#include "common/error.h"
#include "kernels/isa.h"

namespace genzoo {

namespace {
int env_int(const char* name, int fallback) {
  const char* value = std::getenv(name);
  if (!value || !*value) return fallback;
  char* end = nullptr;
  const long parsed = std::strtol(value, &end, 10);
  return (end && *end == '\0' && parsed >= 0) ? static_cast<int>(parsed) : fallback;
}
}  // namespace

int owned_cores() {
  const int slurm = env_int("SLURM_CPUS_PER_TASK", 0);
  if (slurm > 0) return slurm;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  const int mask = std::max(1, CPU_COUNT(&set));
  // Ranks that mpirun left unbound (it does when oversubscribing) all see every core; each taking them
  // all runs ranks x cores spinning threads on the node, several times slower. Never more than a fair
  // share of the node's cores.
  const int local_ranks = env_int("OMPI_COMM_WORLD_LOCAL_SIZE", 1);
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  if (local_ranks > 1 && online > 0) return std::max(1, std::min(mask, static_cast<int>(online) / local_ranks));
  return mask;
}

int local_rank() {
  const int ompi = env_int("OMPI_COMM_WORLD_LOCAL_RANK", -1);
  if (ompi >= 0) return ompi;
  return std::max(0, env_int("SLURM_LOCALID", 0));
}

std::string resolve_device(const std::string& requested) {
  const bool has_cuda = torch::cuda::is_available();
  const int gpus = has_cuda ? static_cast<int>(torch::cuda::device_count()) : 0;
  if (requested == "cpu") return "cpu";
  if (requested == "auto") return gpus > 0 ? "cuda:" + std::to_string(local_rank() % gpus) : "cpu";
  if (requested == "cuda" || requested.rfind("cuda:", 0) == 0) {
    if (gpus == 0) throw UsageError("--device " + requested + ": this LibTorch build sees no CUDA device");
    return requested == "cuda" ? "cuda:" + std::to_string(local_rank() % gpus) : requested;
  }
  throw UsageError("--device " + requested + ": expected auto, cpu, cuda or cuda:N");
}

void set_threads(int n) {
  static bool interop_set = false;
  if (!interop_set) {
    // Inter-op threads can be set only once, before any parallel work.
    try {
      at::set_num_interop_threads(1);
    } catch (const std::exception&) {
    }
    interop_set = true;
  }
  torch::set_num_threads(std::max(1, n));
  // Without this, OpenBLAS's pthread build would use every core of the machine under each of them.
  set_blas_threads(1);
}

void set_blas_threads(int n) {
  // Looked up at run time: the BLAS behind libblas.so.3 may not be OpenBLAS.
  using SetThreads = void (*)(int);
  if (auto* set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) set(std::max(1, n));
}

std::string blas_core() {
  using CoreName = char* (*)();
  auto* core = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  const char* name = core ? core() : nullptr;
  return name ? name : "";
}

std::string blas_core_warning() {
  // OpenBLAS falls back to these when it does not know the CPU model (0.3.21 and a Sapphire or Emerald
  // Rapids guest: Prescott, measured 2048^3 SGEMM 22 instead of 144 GFLOP/s on one core).
  static const char* const kGeneric[] = {"Prescott", "Core2", "Katmai", "Northwood", "Banias", "Atom", "Nano"};
  const std::string core = blas_core();
  if (core.empty() || !kernels::isa_has_wide_fma()) return "";
  for (const char* generic : kGeneric) {
    if (core == generic) {
      return "OpenBLAS runs its generic '" + core + "' kernels on this " + kernels::isa() +
             " CPU (it does not recognize the model): LibTorch's paths and the SGEMM peak run several times slower. "
             "Set OPENBLAS_CORETYPE=" + (kernels::isa() == "AVX2" ? "Haswell" : "SkylakeX") + " before starting genzoo.";
    }
  }
  return "";
}

}  // namespace genzoo
