#!/usr/bin/env bash
# Tests of slurm/*.sbatch against a real single-node Slurm (slurm/local-cluster), run by CTest:
#   slurm_test.sh start|stop            fixture: bring the cluster up / down
#   slurm_test.sh quickstart|preempt|array
# Exits 77 (CTest: skipped) where root or Slurm is unavailable; CI installs Slurm and runs them.
set -uo pipefail
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
binary=${GENZOO_BIN:?set GENZOO_BIN to the genzoo binary}
work=${GENZOO_SLURM_TEST_DIR:-/tmp/genzoo-slurm-test}
cluster="$work/cluster"
export SLURM_CONF="$cluster/slurm.conf"
export GENZOO_BIN=$binary GENZOO_SLURM_DIR="$source_dir/slurm"

fail() { echo "FAIL: $*" >&2; exit 1; }
skip_unless_possible() {
  [[ $(id -u) -eq 0 ]] || { echo "SKIP: Slurm tests need root (slurmd runs the jobs)"; exit 77; }
  command -v slurmctld >/dev/null && command -v munged >/dev/null ||
    { echo "SKIP: slurm-wlm/munge not installed (scripts/setup --with-slurm)"; exit 77; }
}
# Waits (bounded) until a job and all its array tasks have left the queue.
wait_gone() {
  local job=$1 limit=$2
  for _ in $(seq "$limit"); do
    [[ -z "$(timeout 10 squeue -h -j "$job" 2>/dev/null)" ]] && return 0
    sleep 1
  done
  timeout 10 squeue >&2
  fail "job $job still queued after $limit s"
}
# Count of models in a zoo and whether ids are exactly 0..N-1 once each.
check_zoo() {
  /usr/bin/python3 - "$1" "$2" <<'PY' || fail "zoo check of $1"
import sys, h5py, numpy as np
path, expected = sys.argv[1], int(sys.argv[2])
with h5py.File(path, "r") as f:
    ids = f["models/id"][:]
    assert len(ids) == expected, f"{len(ids)} models, expected {expected}"
    assert np.array_equal(np.sort(ids), np.arange(expected)), "ids are not 0..N-1 exactly once"
    for family in f["weights"]:
        assert f[f"weights/{family}/data"].shape[0] == len(f[f"weights/{family}/model_id"])
print(f"{path}: {len(ids)} models, ids 0..{expected - 1} once each")
PY
}
submit() { timeout 30 sbatch --parsable "$@" | cut -d';' -f1; }

case "${1:?}" in
  start)
    skip_unless_possible
    rm -rf "$work" && mkdir -p "$work"
    timeout 120 "$source_dir/slurm/local-cluster" start "$cluster" || fail "cluster did not start"
    ;;
  stop)
    [[ -d "$cluster" ]] && "$source_dir/slurm/local-cluster" stop "$cluster"
    exit 0
    ;;
  quickstart)
    skip_unless_possible
    [[ -f "$SLURM_CONF" ]] || fail "no cluster (the start fixture failed)"
    cd "$source_dir"
    run="$work/quickstart"
    job=$(submit --ntasks=2 --cpus-per-task=1 --output="$work/quickstart-%j.out" slurm/train.sbatch jobs/quickstart.toml "$run")
    [[ -n "$job" ]] || fail "sbatch failed"
    wait_gone "$job" 900
    cat "$work"/quickstart-*.out
    grep -q "zoo.h5 complete" "$work"/quickstart-*.out || fail "train.sbatch did not complete"
    check_zoo "$run/zoo.h5" 112
    # Both ranks trained: the rank column holds 0 and 1.
    /usr/bin/python3 -c "import h5py,sys; r=set(h5py.File('$run/zoo.h5')['models/rank'][:]); sys.exit(0 if r=={0,1} else 1)" ||
      fail "expected models from ranks 0 and 1"
    # train.sbatch chains the reduce stage: wait for it and read its reduce.h5.
    reduce_job=$(sed -nE 's/^genzoo-train: submitted reduce job ([0-9]+).*/\1/p' "$work"/quickstart-*.out)
    [[ -n "$reduce_job" ]] || fail "train.sbatch submitted no reduce job"
    wait_gone "$reduce_job" 600
    cat "$run/reduce-$reduce_job.out"
    grep -q "wrote $run/reduce.h5" "$run/reduce-$reduce_job.out" || fail "reduce.sbatch did not write reduce.h5"
    /usr/bin/python3 -c "
import h5py, sys
r = h5py.File('$run/reduce.h5', 'r')
assert r.attrs['kind'] == 'reduce', dict(r.attrs)
for name in ['svd', 'hist', 'layer_stats', 'latent_mean', 'probe_error']:
    assert name in r['features'], name
for family in ['linear_ae', 'conv_ae']:
    assert family in r['embedding'] and family in r['hierarchy'], family
" || fail "reduce.h5 of the quickstart lacks features, embeddings or hierarchies"
    ;;
  preempt)
    skip_unless_possible
    [[ -f "$SLURM_CONF" ]] || fail "no cluster (the start fixture failed)"
    cd "$source_dir"
    # A tiny job with enough steps to be interrupted mid-run.
    sed -e 's/^name = "tiny"/name = "preempt"/' -e 's/^steps = 40/steps = 1500/' -e 's/^steps = 15/steps = 300/' \
      tests/data/jobs/tiny.toml > "$work/preempt.toml"
    run="$work/preempt"
    job=$(submit --ntasks=2 --cpus-per-task=1 --output="$work/preempt-%j.out" slurm/train.sbatch "$work/preempt.toml" "$run")
    for _ in $(seq 300); do
      compgen -G "$run/shards/chunk-*.h5" >/dev/null && break
      sleep 0.5
    done
    compgen -G "$run/shards/chunk-*.h5" >/dev/null || fail "no shard appeared"
    [[ -f "$run/zoo.h5" ]] && fail "the job finished before it could be preempted; make it longer"
    timeout 10 scancel --signal=USR1 "$job" || fail "scancel --signal=USR1"
    wait_gone "$job" 600
    out=$(cat "$work"/preempt-*.out)
    echo "$out"
    grep -q "requeueing" <<<"$out" || fail "the job was not requeued after USR1"
    grep -q "restart 1" <<<"$out" || fail "the requeued job did not run again"
    grep -q "resuming" <<<"$out" || fail "the requeued run did not resume from shards"
    check_zoo "$run/zoo.h5" 20
    ;;
  array)
    skip_unless_possible
    [[ -f "$SLURM_CONF" ]] || fail "no cluster (the start fixture failed)"
    cd "$source_dir"
    mkdir -p "$work/sweep"
    for seed in 1 2; do
      sed -e "s/^name = \"tiny\"/name = \"sweep-$seed\"/" -e "s/^seed = 7/seed = $seed/" \
        tests/data/jobs/tiny.toml > "$work/sweep/seed-$seed.toml"
    done
    job=$(submit --array=0-1%1 --output="$work/sweep-%A_%a.out" slurm/sweep.sbatch "$work/sweep" "$work/sweep-runs")
    wait_gone "$job" 600
    cat "$work"/sweep-*.out
    check_zoo "$work/sweep-runs/seed-1/zoo.h5" 20
    check_zoo "$work/sweep-runs/seed-2/zoo.h5" 20
    status=$("$binary" status "$work"/sweep-runs/*) || fail "genzoo status: not all done: $status"
    echo "$status"
    [[ $(grep -c " done " <<<"$status") -eq 2 ]] || fail "expected two done runs"
    ;;
  *)
    fail "unknown test $1"
    ;;
esac
echo "PASS: $1"
