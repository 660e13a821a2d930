#!/usr/bin/env bash
# Tests of slurm/*.sbatch against a real single-node Slurm (slurm/local-cluster), run by CTest:
#   slurm_test.sh start|stop            fixture: bring the cluster up / down
#   slurm_test.sh quickstart|preempt|array
# Exits 77 (CTest: skipped) where root or Slurm is unavailable; CI installs Slurm and runs them.
#
# The scenarios train tests/data/jobs/slurm.toml (seconds of work) and wait for events (a job reaching a
# final state, a shard or a log line appearing), polling until they happen. Only when a whole scenario
# takes longer than GENZOO_SLURM_TEST_CAP seconds (default 1080, below CTest's 1200 s) does it fail,
# naming the event it was waiting for. No scenario waits a fixed time.
set -uo pipefail
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
binary=${GENZOO_BIN:?set GENZOO_BIN to the genzoo binary}
work=${GENZOO_SLURM_TEST_DIR:-/tmp/genzoo-slurm-test}
cluster="$work/cluster"
export SLURM_CONF="$cluster/slurm.conf"
export GENZOO_BIN=$binary GENZOO_SLURM_DIR="$source_dir/slurm"

job_file="$source_dir/tests/data/jobs/slurm.toml"
models=26  # in slurm.toml (genzoo plan)
cap=${GENZOO_SLURM_TEST_CAP:-1080}
deadline=$((SECONDS + cap))

fail() { echo "FAIL: $*" >&2; exit 1; }
skip_unless_possible() {
  [[ $(id -u) -eq 0 ]] || { echo "SKIP: Slurm tests need root (slurmd runs the jobs)"; exit 77; }
  command -v slurmctld >/dev/null && command -v munged >/dev/null ||
    { echo "SKIP: slurm-wlm/munge not installed (scripts/setup --with-slurm)"; exit 77; }
}
# Polls until the command "$@" succeeds; fails naming WHAT when the scenario's cap is reached first.
wait_for() {
  local what=$1
  shift
  until "$@"; do
    if ((SECONDS >= deadline)); then
      timeout 10 squeue -t all >&2
      fail "$what: still waiting after ${cap} s (GENZOO_SLURM_TEST_CAP)"
    fi
    sleep 0.2
  done
}
# States of a job (one line per array task) in any state; completed jobs stay listed for MinJobAge.
job_states() { timeout 10 squeue -h -t all -j "$1" -o %T 2>/dev/null; }
# True when the job (every array task) has reached a final state.
job_final() {
  local states
  states=$(job_states "$1") && [[ -n "$states" ]] &&
    ! grep -qvE '^(COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|PREEMPTED)$' <<<"$states"
}
wait_final() { wait_for "job $1 to finish" job_final "$1"; }
# True when the job's final state is COMPLETED for every task.
job_completed() { [[ -z "$(job_states "$1" | grep -v '^COMPLETED$')" ]]; }
has_shard() { compgen -G "$1/shards/chunk-*.h5" >/dev/null; }
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
    # train.sbatch end to end: 2 ranks train, rank 0 merges zoo.h5, the script chains reduce.sbatch.
    skip_unless_possible
    [[ -f "$SLURM_CONF" ]] || fail "no cluster (the start fixture failed)"
    cd "$source_dir"
    run="$work/quickstart"
    rm -rf "$run" "$work"/quickstart-*.out "$work"/distill-*.out
    job=$(submit --ntasks=2 --cpus-per-task=1 --output="$work/quickstart-%j.out" slurm/train.sbatch "$job_file" "$run")
    [[ -n "$job" ]] || fail "sbatch failed"
    wait_final "$job"
    cat "$work"/quickstart-*.out
    job_completed "$job" || fail "train job $job ended $(job_states "$job")"
    grep -q "zoo.h5 complete" "$work"/quickstart-*.out || fail "train.sbatch did not complete"
    check_zoo "$run/zoo.h5" "$models"
    # Both ranks trained: the rank column holds 0 and 1.
    /usr/bin/python3 -c "import h5py,sys; r=set(h5py.File('$run/zoo.h5')['models/rank'][:]); sys.exit(0 if r=={0,1} else 1)" ||
      fail "expected models from ranks 0 and 1"
    # train.sbatch chains the reduce stage: wait for it and read its reduce.h5.
    reduce_job=$(sed -nE 's/^genzoo-train: submitted reduce job ([0-9]+).*/\1/p' "$work"/quickstart-*.out)
    [[ -n "$reduce_job" ]] || fail "train.sbatch submitted no reduce job"
    wait_final "$reduce_job"
    cat "$run/reduce-$reduce_job.out"
    job_completed "$reduce_job" || fail "reduce job $reduce_job ended $(job_states "$reduce_job")"
    grep -q "wrote $run/reduce.h5" "$run/reduce-$reduce_job.out" || fail "reduce.sbatch did not write reduce.h5"
    /usr/bin/python3 -c "
import h5py, sys
r = h5py.File('$run/reduce.h5', 'r')
assert r.attrs['kind'] == 'reduce', dict(r.attrs)
for name in ['svd', 'hist', 'layer_stats', 'latent_mean', 'probe_error']:
    assert name in r['features'], name
for family in ['linear_ae', 'conv_ae']:
    assert family in r['embedding'] and family in r['hierarchy'], family
" || fail "reduce.h5 lacks features, embeddings or hierarchies"
    # slurm/distill.sbatch on the reduced run: 2 ranks share the job's [distill] units.
    distill_job=$(submit --ntasks=2 --cpus-per-task=1 --output="$work/distill-%j.out" slurm/distill.sbatch "$run")
    [[ -n "$distill_job" ]] || fail "sbatch distill.sbatch failed"
    wait_final "$distill_job"
    cat "$work"/distill-*.out
    job_completed "$distill_job" || fail "distill job $distill_job ended $(job_states "$distill_job")"
    grep -q "distill.h5 complete" "$work"/distill-*.out || fail "distill.sbatch did not complete"
    /usr/bin/python3 -c "
import h5py
d = h5py.File('$run/distill.h5', 'r')
assert d.attrs['kind'] == 'distill', dict(d.attrs)
assert sorted(set(d['results/method'].asstr()[()])) == ['scratch', 'vi'] and len(d['results/method']) == 4
" || fail "distill.h5 lacks the job's students"
    ;;
  preempt)
    # A job interrupted by USR1 mid-run (as before a time limit) requeues, resumes from its shards and
    # loses nothing: every model once, and the models of the shards written before the signal are not
    # trained again.
    skip_unless_possible
    [[ -f "$SLURM_CONF" ]] || fail "no cluster (the start fixture failed)"
    cd "$source_dir"
    run="$work/preempt"
    out="$work/preempt.out"
    rm -rf "$run" "$out"
    job=$(GENZOO_REDUCE=0 submit --ntasks=2 --cpus-per-task=1 --output="$out" slurm/train.sbatch "$job_file" "$run")
    [[ -n "$job" ]] || fail "sbatch failed"
    wait_for "a first shard of job $job" has_shard "$run"
    # Freeze the job where it is, so that what the test sees stays true until the signal: however long
    # the job or the test took so far, it is interrupted between shards, before it finished.
    if ! timeout 30 scontrol suspend "$job"; then
      job_final "$job" && fail "job $job finished before it could be interrupted"
      fail "scontrol suspend $job"
    fi
    shards_before=$(compgen -G "$run/shards/chunk-*.h5" | wc -l)
    [[ -f "$run/zoo.h5" || $shards_before -ge $models ]] &&
      fail "job $job had trained everything ($shards_before shards) when the first shard was seen"
    # Slurm takes no signal for a suspended job: USR1 goes to the stopped genzoo ranks themselves (as
    # scancel --signal=USR1 would send it), stays pending, and arrives when they resume.
    ranks=()
    for pid in $(timeout 30 scontrol listpids "$job" | awk 'NR > 1 {print $1}'); do
      [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == "$(readlink -f "$binary")" ]] && ranks+=("$pid")
    done
    [[ ${#ranks[@]} -eq 2 ]] || fail "expected 2 genzoo ranks in job $job, found ${#ranks[@]}: $(scontrol listpids "$job")"
    kill -USR1 "${ranks[@]}" || fail "kill -USR1 ${ranks[*]}"
    timeout 30 scontrol resume "$job" || fail "scontrol resume $job"
    wait_for "job $job to be requeued after USR1" grep -q "requeueing" "$out"
    # Slurm holds a requeued job back for about two minutes (BeginTime) while the old step is cleaned
    # up; starting it earlier (scontrol update StartTime=now) makes its srun step fail to launch.
    wait_for "requeued job $job to run again" grep -q "restart 1" "$out"
    wait_final "$job"
    cat "$out"
    job_completed "$job" || fail "job $job ended $(job_states "$job")"
    grep -q "resuming" "$out" || fail "the requeued run did not resume from shards"
    check_zoo "$run/zoo.h5" "$models"
    # "(T trained now, N resumed from shards)": N covers at least the shards there before the signal
    # (one model each) and T + N is every model.
    summary=$(sed -nE 's/.*zoo\.h5: [0-9]+ models \(([0-9]+) trained now, ([0-9]+) resumed from shards\).*/\1 \2/p' "$out" | tail -1)
    read -r trained resumed <<<"$summary"
    [[ -n "${resumed:-}" ]] || fail "no summary line of the resumed run"
    ((resumed >= shards_before)) || fail "$resumed models resumed but $shards_before shards were there before the signal"
    ((trained + resumed == models)) || fail "$trained trained + $resumed resumed is not $models models"
    ;;
  array)
    # slurm/sweep.sbatch: a 2-task array, one after the other (%1), each training its own run.
    skip_unless_possible
    [[ -f "$SLURM_CONF" ]] || fail "no cluster (the start fixture failed)"
    cd "$source_dir"
    rm -rf "$work/sweep" "$work/sweep-runs" "$work"/sweep-*.out
    mkdir -p "$work/sweep"
    for seed in 1 2; do
      sed -e "s/^name = \"slurm\"/name = \"sweep-$seed\"/" -e "s/^seed = 7/seed = $seed/" "$job_file" \
        > "$work/sweep/seed-$seed.toml"
      grep -q "^seed = $seed" "$work/sweep/seed-$seed.toml" || fail "could not set the seed of seed-$seed.toml"
    done
    job=$(submit --array=0-1%1 --output="$work/sweep-%A_%a.out" slurm/sweep.sbatch "$work/sweep" "$work/sweep-runs")
    [[ -n "$job" ]] || fail "sbatch failed"
    wait_final "$job"
    cat "$work"/sweep-*.out
    job_completed "$job" || fail "array job $job ended $(job_states "$job" | tr '\n' ' ')"
    check_zoo "$work/sweep-runs/seed-1/zoo.h5" "$models"
    check_zoo "$work/sweep-runs/seed-2/zoo.h5" "$models"
    status=$("$binary" status "$work"/sweep-runs/*) || fail "genzoo status: not all done: $status"
    echo "$status"
    [[ $(grep -c " done " <<<"$status") -eq 2 ]] || fail "expected two done runs"
    ;;
  *)
    fail "unknown test $1"
    ;;
esac
echo "PASS: $1"
