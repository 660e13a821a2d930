#!/bin/bash
# The runs behind bench/RESULTS.md "Portable kernels": every workload on AVX-512 and on AVX2 (this
# binary restricted with --isa, OpenBLAS with OPENBLAS_CORETYPE), two threads, a plain PyTorch loop.
# Output of the recorded run: bench/portable_kernels.log. Run from the repository root.
# On a CPU without AVX-512 only the AVX2 runs are made (the AVX3 target would not be there to pin).
cd "$(dirname "$0")/.."
configs=("Haswell AVX2")
grep -qw avx512f /proc/cpuinfo && configs=("SkylakeX AVX3" "Haswell AVX2")
grep -m1 'model name' /proc/cpuinfo; grep -m2 -E 'cpu family|^model\s' /proc/cpuinfo | tr '\n' ' '; echo
for cfg in "${configs[@]}"; do
  set -- $cfg; ct=$1; isa=$2
  for w in W1 W2 W3 W4; do
    m=16; [[ $w == W1 ]] && m=64
    echo "## OPENBLAS_CORETYPE=$ct taskset -c 0 build/genzoo --isa $isa bench --workload $w --models $m --no-loop"
    OPENBLAS_CORETYPE=$ct taskset -c 0 build/genzoo --isa $isa bench --workload $w --models $m --no-loop 2>&1 | tail -1
  done
  echo "## OPENBLAS_CORETYPE=$ct taskset -c 0 build/genzoo --isa $isa bench --workload W1 --models 16 --no-loop --kernels torch"
  OPENBLAS_CORETYPE=$ct taskset -c 0 build/genzoo --isa $isa bench --workload W1 --models 16 --no-loop --kernels torch 2>&1 | tail -1
  for w in W1 W2 W4; do
    m=32; [[ $w == W1 ]] && m=128
    echo "## OPENBLAS_CORETYPE=$ct build/genzoo --isa $isa bench --workload $w --models $m --threads 2 --no-loop"
    OPENBLAS_CORETYPE=$ct build/genzoo --isa $isa bench --workload $w --models $m --threads 2 --no-loop 2>&1 | tail -1
    echo "## same, one thread: OPENBLAS_CORETYPE=$ct taskset -c 0 build/genzoo --isa $isa bench --workload $w --models $m --no-loop"
    OPENBLAS_CORETYPE=$ct taskset -c 0 build/genzoo --isa $isa bench --workload $w --models $m --no-loop 2>&1 | tail -1
  done
  echo "## OPENBLAS_CORETYPE=$ct taskset -c 0 bench/torch_loop.py --models 8"
  OPENBLAS_CORETYPE=$ct taskset -c 0 /usr/bin/python3 bench/torch_loop.py --models 8
done
echo "## taskset -c 0 bench/torch_loop.py --models 8 (OpenBLAS as detected)"
taskset -c 0 /usr/bin/python3 bench/torch_loop.py --models 8
