#!/usr/bin/env bash
# Seed 000's theorem on genzoo zoos over a grid of d, k, n and p (issue 15 point 2): for each point, a copy of
# jobs/seed000.toml with those values is trained and reduced by genzoo itself, and the closed forms and
# estimates are read back from reduce.h5 (/theorem/linear_ae). Prints one table row per point.
#   bench/seed000_grid.sh [BUILD_DIR] [WORK_DIR]       (about 10 s per point on 2 cores)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$here/build}"
work="${2:-$(mktemp -d)}"
mkdir -p "$work"
DIMS="${DIMS:-4 8 16}" CODES="${CODES:-2 4}" POOLS="${POOLS:-400 2000}" INCLUSIONS="${INCLUSIONS:-0.1 0.5}"
rows=()
for d in $DIMS; do for k in $CODES; do for n in $POOLS; do for p in $INCLUSIONS; do
  [ "$k" -lt "$d" ] || continue
  name="d${d}-k${k}-n${n}-p${p}"
  sed -e "s/^dimension = .*/dimension = $d/" -e "s/^latent = .*/latent = $k/" -e "s/^pool = .*/pool = $n/" \
      -e "s/^inclusion = .*/inclusion = $p/" -e "0,/^name = .*/s//name = \"seed000-${name//./_}\"/" \
      "$here/jobs/seed000.toml" > "$work/$name.toml"
  rm -rf "$work/$name"
  "$build/genzoo" train "$work/$name.toml" --run "$work/$name" --quiet > /dev/null
  "$build/genzoo" reduce "$work/$name/zoo.h5" --quiet > /dev/null
  rows+=("$work/$name/reduce.h5")
done; done; done; done
/usr/bin/python3 - "${rows[@]}" <<'PY'
import sys
import h5py
import numpy as np
print("| d | k | n | p | E[m] | (1) n p H | (2) median | (2) on d − k | (3) median | I(X1; s) KSG / flow | I(X1; W2W1) KSG / flow |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for path in sys.argv[1:]:
    g = h5py.File(path, "r")["theorem/linear_ae"]
    a = g.attrs
    fin = g["weight_closed"][()]
    print(f"| {a['dimension']} | {a['code']} | {a['pool']} | {a['inclusion']:g} | {g['m'][()].mean():.0f} | "
          f"{a['subset_closed']:,.0f} | {np.median(fin):,.0f} | {np.median(g['weight_residual'][()]):,.0f} | "
          f"{np.median(g['singular_closed'][()]):,.0f} | {a['s_ksg']:.2f} / {a['s_flow']:.2f} | {a['p_ksg']:.2f} / {a['p_flow']:.2f} |")
PY
