#!/usr/bin/env bash
# Issue 16 points 1-2: GAN stabilizers and VAE variants one at a time on fixed mixtures. Each arm is one of the
# quickstart's generative families alone (its seed, data and feature-net settings: the same 8 mixtures, samples and
# initializations) with family keys changed; the table is read from each arm's zoo.h5 by bench/generative_table.py.
#   bench/family_arms.sh gan OUT_DIR 'baseline:' 'ttur:d_lr_scale = 4' 'long:steps = 6000' ...
# An arm is NAME:KEY-LINES (lines separated by ';'); a key given again overrides the base's. $GENZOO_TRAIN_FLAGS is
# passed to `genzoo train` (e.g. GENZOO_TRAIN_FLAGS='--kernels torch' trains on the LibTorch path).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
family=$1; out=$2; shift 2
mkdir -p "$out"
for arm in "$@"; do
  name=${arm%%:*}; keys=${arm#*:}
  toml="$out/$name.toml"
  {
    sed -n '1,/^\[probe\]/p' "$here/jobs/quickstart.toml" | sed '$d' | sed "s/^name = .*/name = \"$family-$name\"/"
    echo '[[family]]'
    # the quickstart's family, minus the keys this arm sets
    sed -n "/^name = \"$family\"/,/^\$/p" "$here/jobs/quickstart.toml" | sed '/^$/d' | while IFS= read -r line; do
      key=$(echo "$line" | sed 's/ *=.*//')
      if ! echo "$keys" | tr ';' '\n' | sed 's/ *=.*//; s/^ *//' | grep -qx "$key"; then echo "$line"; fi
    done
    echo "$keys" | tr ';' '\n' | sed 's/^ *//; /^$/d'
  } > "$toml"
  if [ ! -f "$out/$name/zoo.h5" ]; then
    rm -rf "$out/$name"
    # Every arm has the quickstart's seed and [featurenet]: the first trained net serves them all (a run directory
    # holding its job.toml and featurenet.h5 trains no other), which saves the net's minutes per arm.
    net=$(ls "$out"/*/featurenet.h5 2>/dev/null | head -1 || true)
    if [ -n "$net" ]; then mkdir -p "$out/$name" && cp "$toml" "$out/$name/job.toml" && cp "$net" "$out/$name/"; fi
    /usr/bin/time -f "$name: %e s wall" "$here/build/genzoo" train "$toml" --run "$out/$name" ${GENZOO_TRAIN_FLAGS:-} > "$out/$name.log" 2>&1
  fi
done
/usr/bin/python3 "$here/bench/generative_table.py" "$out"/*/zoo.h5
