"""Draw weights from a node's prior in reduce.h5 and rebuild the model with numpy alone.

    python3 analysis/examples/sample_prior.py runs/q/reduce.h5 [FAMILY] [NODE] [STUDENT]

Takes the root prior of the first family with priors (or the named one), draws 4 weight vectors from
N(m, D + F Fᵀ), rebuilds their tensors from the stored layout and, for linear_ae (and the aligned
students of it), runs the autoencoder x -> decoder(encoder(x)) on a random image-shaped input. Prints
the tensors' shapes, the samples' log densities under the prior and the spread of the outputs.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from genzoo_analysis import reduce as gr  # noqa: E402


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    path = argv[1]
    rows = gr.priors(path, argv[2] if len(argv) > 2 else None)
    if not rows:
        print(f"{path}: no priors (set [reduce] prior_* keys and rerun genzoo reduce)", file=sys.stderr)
        return 1
    family = rows[0]["family"]
    name = argv[3] if len(argv) > 3 else next(r["name"] for r in rows if r["name"].startswith("root"))
    student = argv[4] if len(argv) > 4 else None
    p = gr.prior(path, family, name, student)
    rng = np.random.default_rng(0)
    w = gr.sample_prior(p, 4, rng)
    tensors = gr.unflatten(w[0], p["layout"])
    print(f"{family}/{name}" + (f" aligned to {student} ({len(p['steps'])} steps, order {p['order']})" if student else "")
          + f": P = {w.shape[1]}, rank {p['factor'].shape[1]}, {len(p['member_ids'])} members")
    for tensor, value in tensors.items():
        print(f"  {tensor:<20} {value.shape}")
    print("  log density of the 4 samples:", np.round(gr.prior_log_density(p, w), 1))
    print("  log density of the mean:     ", np.round(gr.prior_log_density(p, p["mean"]), 1))
    if family == "linear_ae":
        x = rng.random(784)
        outputs = []
        for row in w:
            t = gr.unflatten(row, p["layout"])
            code = t["encoder.weight"] @ x + t["encoder.bias"]
            outputs.append(t["decoder.weight"] @ code + t["decoder.bias"])
        print("  reconstruction spread over the samples (mean std per pixel):", round(float(np.std(outputs, 0).mean()), 4))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
