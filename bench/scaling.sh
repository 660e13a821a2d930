#!/usr/bin/env bash
# Parallel efficiency of `genzoo train` on workload W1 (256 models): 1 rank vs N ranks (default 2), one
# core each (mpirun --bind-to core), and the share of each rank's time spent in HDF5 writes and MPI.
#   bench/scaling.sh [RANKS] [GENZOO_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
ranks=${1:-2}
bin=${2:-build/genzoo}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

run() {  # ranks -> timing lines
  mpirun --oversubscribe --bind-to core -np "$1" "$bin" train bench/w1-256.toml --run "$work/r$1" --timings --quiet |
    grep '^timings'
}
one=$(run 1)
many=$(run "$ranks")
echo "$one"
echo "$many"
/usr/bin/python3 - "$ranks" "$one" "$many" <<'PY'
import sys
ranks = int(sys.argv[1])
def parse(text):
    rows = []
    for line in text.strip().splitlines():
        rows.append({k: float(v) for k, v in (kv.split("=") for kv in line.split()[1:])})
    return rows
one, many = parse(sys.argv[2]), parse(sys.argv[3])
t1 = one[0]["loop_s"]
tn = max(r["loop_s"] for r in many)
efficiency = t1 / (ranks * tn)
share = max((r["hdf5_s"] + r["mpi_s"]) / r["loop_s"] for r in many)
models = sum(r["models"] for r in many)
print(f"scaling ranks={ranks} models={models:.0f} t1_s={t1:.3f} tn_s={tn:.3f} "
      f"parallel_efficiency={efficiency:.4f} hdf5_mpi_share={share:.4f}")
PY
