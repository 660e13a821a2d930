#!/usr/bin/python3
"""Seed 004's metrics for a regression distill.h5 (jobs/seed004_regression.toml): per student and n, the
final test log-likelihood log N(y | f(x), s^2) in nats per test sample (from the stored test MSE:
-MSE / (2 s^2) - log(2 pi s^2) / 2, s^2 = the likelihood variance the students trained with) and the
thesis's integral, the area between a method's and the plain student's (vi_standard) test log-likelihood
curves, summed over the test samples and the curve points; mean +- sd over seeds.

    /usr/bin/python3 bench/seed004_regression_table.py RUN/distill.h5 [--test-samples 124] [--variance 0.01]
"""
import argparse

import h5py
import numpy as np

METHODS = ["vi_standard", "vi_node_mean", "vi", "scratch", "isotropic", "warm_start"]
NAMES = {"vi_standard": "student N(0, I)", "vi_node_mean": "distil-student N(m, I)", "vi": "distil-student-all N(m, kS)",
         "scratch": "scratch (Adam, no prior)", "isotropic": "isotropic", "warm_start": "warm_start"}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("distill_h5")
    parser.add_argument("--test-samples", type=int, default=124)
    parser.add_argument("--variance", type=float, default=0.01, help="s^2 of the likelihood (the job's noise_variance)")
    args = parser.parse_args()
    r = h5py.File(args.distill_h5, "r")["results"]
    student, method = r["student"].asstr()[()], r["method"].asstr()[()]
    n, seed, loss, curve = r["n"][()], r["seed"][()], r["test_loss"][()], r["curve"][()]
    log_lik = lambda mse: -mse / (2 * args.variance) - 0.5 * np.log(2 * np.pi * args.variance)
    print("| student | n | method | test MSE | test log-likelihood (nats/sample) | integral vs student (nats x points) |")
    print("|---|---|---|---|---|---|")
    for s in sorted(set(student)):
        for size in sorted(set(n)):
            base = {sd: curve[(student == s) & (n == size) & (method == "vi_standard") & (seed == sd)][0]
                    for sd in sorted(set(seed))}
            for m in METHODS:
                sel = (student == s) & (n == size) & (method == m)
                if not sel.any():
                    continue
                ll = log_lik(loss[sel])
                area = [args.test_samples * (log_lik(c) - log_lik(base[sd])).sum() for c, sd in zip(curve[sel], seed[sel])]
                print(f"| {s.split(':')[1]} | {size} | {NAMES[m]} | {loss[sel].mean():.4f} | "
                      f"{ll.mean():.3f} ± {ll.std(ddof=1) if sel.sum() > 1 else 0:.3f} | "
                      f"{np.mean(area):,.0f} ± {np.std(area, ddof=1) if sel.sum() > 1 else 0:,.0f} |")


if __name__ == "__main__":
    main()
