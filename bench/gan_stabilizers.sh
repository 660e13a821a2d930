#!/usr/bin/env bash
# Issue 16 point 1: GAN stabilizers one at a time on fixed mixtures. Each arm is the quickstart's gan family
# alone (its seed, data and feature-net settings: the same 8 mixtures, samples and initializations) with one
# family key changed; the table is read from each arm's zoo.h5 by bench/gan_table.py.
#   bench/gan_stabilizers.sh OUT_DIR 'baseline:' 'ttur:d_lr_scale = 4' 'long:steps = 6000' ...
# An arm is NAME:KEY-LINES (lines separated by ';'); a key given again overrides the base's.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=$1; shift
mkdir -p "$out"
for arm in "$@"; do
  name=${arm%%:*}; keys=${arm#*:}
  toml="$out/$name.toml"
  {
    sed -n '1,/^\[probe\]/p' "$here/jobs/quickstart.toml" | sed '$d' | sed "s/^name = .*/name = \"gan-$name\"/"
    echo '[[family]]'
    # the quickstart's gan family, minus the keys this arm sets
    sed -n '/^name = "gan"/,/^$/p' "$here/jobs/quickstart.toml" | sed '/^$/d' | while IFS= read -r line; do
      key=$(echo "$line" | sed 's/ *=.*//')
      if ! echo "$keys" | tr ';' '\n' | sed 's/ *=.*//; s/^ *//' | grep -qx "$key"; then echo "$line"; fi
    done
    echo "$keys" | tr ';' '\n' | sed 's/^ *//; /^$/d'
  } > "$toml"
  if [ ! -f "$out/$name/zoo.h5" ]; then
    rm -rf "$out/$name"
    /usr/bin/time -f "$name: %e s wall" "$here/build/genzoo" train "$toml" --run "$out/$name" > "$out/$name.log" 2>&1
  fi
done
/usr/bin/python3 "$here/bench/gan_table.py" "$out"/*/zoo.h5
