// What this rank owns: cores (LibTorch threads) and a device (DESIGN.md section 4).
#pragma once

#include <string>

namespace genzoo {

// Cores this process may use: SLURM_CPUS_PER_TASK when set, else the size of its CPU affinity mask,
// capped under mpirun at the node's cores divided by the ranks on the node (OMPI_COMM_WORLD_LOCAL_SIZE).
int owned_cores();
// Node-local rank: OMPI_COMM_WORLD_LOCAL_RANK, else SLURM_LOCALID, else 0.
int local_rank();
// "auto" -> cuda:(local_rank mod visible GPUs) when LibTorch has CUDA, else cpu; "cpu"; "cuda" or
// "cuda:N". Throws UsageError for cuda without CUDA or an unknown name.
std::string resolve_device(const std::string& requested);
// Sets LibTorch intra-op threads to n (and inter-op to 1: genzoo runs one model batch at a time)
// and OpenBLAS to one thread: LibTorch's threads split the work (models, batches) and each calls
// BLAS, so a multi-threaded BLAS under them oversubscribes the cores (measured with 2 threads: the
// vae workload W4 3.1x slower, the feature net 1.3x slower).
void set_threads(int n);
// OpenBLAS's own thread count (when the BLAS behind libblas.so.3 is OpenBLAS; else nothing): for a
// single large GEMM that nothing else parallelizes, such as the SGEMM peak measurement.
void set_blas_threads(int n);

// OpenBLAS's name of the kernels it runs (e.g. "SkylakeX", "Haswell", "Prescott"); empty when the
// BLAS behind LibTorch is not OpenBLAS.
std::string blas_core();

// A one-line warning when OpenBLAS runs generic kernels on a CPU with AVX2 or AVX-512 (it did not
// recognize the model), naming the OPENBLAS_CORETYPE that fixes it; empty otherwise.
std::string blas_core_warning();

}  // namespace genzoo
