# Shared by genzoo's batch scripts (sourced, not run).

# The genzoo binary: $GENZOO_BIN, else the build tree of the submit directory, else PATH.
genzoo_binary() {
  if [[ -n "${GENZOO_BIN:-}" ]]; then
    echo "$GENZOO_BIN"
  elif [[ -x "${SLURM_SUBMIT_DIR:-.}/build/genzoo" ]]; then
    echo "${SLURM_SUBMIT_DIR:-.}/build/genzoo"
  elif command -v genzoo >/dev/null; then
    command -v genzoo
  else
    echo "genzoo: binary not found (set GENZOO_BIN, build into ./build, or put genzoo on PATH)" >&2
    return 1
  fi
}

# Default run directory for a job file: runs/<job name>.
default_run_dir() {
  local name
  name=$(sed -nE '/^name[[:space:]]*=/{s/^name[[:space:]]*=[[:space:]]*"([^"]+)".*/\1/p;q}' "$1")
  echo "runs/${name:-$(basename "$1" .toml)}"
}

# Runs `genzoo ARGS...` (a resumable stage: train, distill) on every task of the allocation: srun with
# PMIx by default (GENZOO_SRUN_MPI=pmi2 for PMI-2), or mpirun where Slurm has no PMI support
# (GENZOO_LAUNCHER=mpirun). USR1/TERM reach the ranks. Returns genzoo's exit code: 75 means stopped by a
# signal and resumable.
launch_genzoo() {
  local bin=$1
  shift
  local cpus=${SLURM_CPUS_PER_TASK:-1}
  export OMP_NUM_THREADS=$cpus
  if [[ "${GENZOO_LAUNCHER:-srun}" == mpirun ]]; then
    mpirun -np "${SLURM_NTASKS:-1}" --map-by "slot:PE=$cpus" --bind-to core \
      "$bin" "$@" &
  else
    # srun does not inherit --cpus-per-task from sbatch (Slurm >= 22.05): pass it on.
    srun --mpi="${GENZOO_SRUN_MPI:-pmix}" --cpus-per-task="$cpus" --kill-on-bad-exit=1 \
      "$bin" "$@" &
  fi
  # Wait in the background so that this shell can take USR1/TERM and forward them.
  local launcher=$!
  trap "kill -USR1 $launcher 2>/dev/null" USR1
  trap "kill -TERM $launcher 2>/dev/null" TERM
  local code=0
  wait "$launcher" || code=$?
  # A trapped signal interrupts wait: wait again for the launcher's own exit code.
  while kill -0 "$launcher" 2>/dev/null; do
    wait "$launcher" || code=$?
  done
  trap - USR1 TERM
  return "$code"
}

# `genzoo train JOB --run RUN [options]` through launch_genzoo.
launch_train() {
  local bin=$1 job=$2 run=$3
  shift 3
  launch_genzoo "$bin" train "$job" --run "$run" "$@"
}
