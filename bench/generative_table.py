#!/usr/bin/env python3
"""Issue 16's figures of generative zoos, one line (or with --markdown one table row) per zoo.h5:
median mode_tv, the generated share outside the mixture's classes (median, max), modes found / expected,
median FID, per class slot the share of the models whose mixture holds it at >= 10 % that generate >= 5 % of
it, training seconds, the real-image floor (median real_fid, real_mode_tv) and a vae's reconstruction floor (median
reconstruction_fid, reconstruction_mode_tv) where the zoo stores them.
  bench/generative_table.py [--markdown] [--family NAME] RUN/zoo.h5 ...
"""
import argparse

import h5py
import numpy as np


def figures(path, family):
    m = h5py.File(path, "r")["models"]
    keep = np.ones(len(m["id"][()]), bool)
    if family:
        keep = m["family"][()].astype(str) == family
    if not keep.any():
        raise SystemExit(f"{path}: no {family or ''} models")
    col = lambda name: m[name][()][keep]
    p = col("proportions")
    shares = np.stack([col(f"generated_share_{k}") for k in range(p.shape[1])], 1)
    outside = 1 - shares.sum(1)
    found = []
    for k in range(p.shape[1]):
        big = p[:, k] >= 0.1
        found.append(((shares[:, k] >= 0.05) & big).sum() / max(big.sum(), 1))
    statuses = dict(zip(*np.unique(col("status").astype(str), return_counts=True)))
    real = (np.nanmedian(col("real_fid")), np.nanmedian(col("real_mode_tv"))) if "real_fid" in m else None
    stored = lambda name: keep.any() and name in m and np.isfinite(col(name)).any()
    recon = ((np.nanmedian(col("reconstruction_fid")), np.nanmedian(col("reconstruction_mode_tv")))
             if stored("reconstruction_fid") else None)
    return dict(models=int(keep.sum()), mode_tv=np.median(col("mode_tv")), outside=np.median(outside),
                outside_max=outside.max(), modes=np.median(col("modes_found")), expected=np.median(col("modes_expected")),
                fid=np.median(col("fid")), found=found, statuses=statuses, train_s=col("train_seconds").sum(), real=real,
                recon=recon)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="a markdown table row per zoo")
    parser.add_argument("--family", default="", help="only this family's models (a zoo of several families)")
    parser.add_argument("zoos", nargs="+")
    args = parser.parse_args()
    for path in args.zoos:
        f = figures(path, args.family)
        found = " / ".join("%.2f" % x for x in f["found"])
        real = f"FID {f['real'][0]:.1f}, mode_tv {f['real'][1]:.3f}" if f["real"] else "-"
        if f["recon"]:
            real += f"; reconstructions: FID {f['recon'][0]:.1f}, mode_tv {f['recon'][1]:.3f}"
        if args.markdown:
            print(f"| {path} | {f['mode_tv']:.3f} | {f['outside']:.3f} ({f['outside_max']:.3f}) | {f['modes']:.1f} / "
                  f"{f['expected']:.1f} | {f['fid']:.1f} | {found} | {real} |")
        else:
            print(f"{path}: {f['models']} models, median mode_tv {f['mode_tv']:.3f}, outside share median {f['outside']:.3f} "
                  f"(max {f['outside_max']:.3f}), modes {f['modes']:.1f}/{f['expected']:.1f}, median FID {f['fid']:.1f}, "
                  f"statuses {f['statuses']}, classes >=10% with share >=5%: [{found}], train s {f['train_s']:.0f}, "
                  f"real-image floor: {real}")


if __name__ == "__main__":
    main()
