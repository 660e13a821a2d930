"""Read genzoo distill files (distill.h5, written by `genzoo distill RUN/zoo.h5`) with numpy and h5py
alone (plot_test_loss() also uses matplotlib).

The schema is described in src/distill/distill_file.h. Typical use:

    from genzoo_analysis import distill as gd        # or, as before, `import genzoo_distill as gd`
    r = gd.results("run/distill.h5")          # columns: mixture, n, seed, student, method, test_loss, curve, ...
    s = gd.summary("run/distill.h5")          # [{"student", "method", "n", "mean", "sd", "count", "vs_scratch"}]
    t = gd.student_weights("run/distill.h5", row=3)   # {"encoder.weight": [k, 784], ...} of result row 3
    gd.plot_test_loss("run/distill.h5", "test_loss.png")  # test loss against n per method, error bars = sd

From the shell, `python3 analysis/genzoo_distill.py run/distill.h5 [--png out.png]` prints the summary
(and draws the figure). A file that is not a distill file, or of another schema_version, raises
ValueError; an unknown student raises KeyError naming those the file has.
"""

import sys

import numpy as np

from ._h5 import attrs as _attrs, layout as _layout, open_checked, unflatten as _unflatten

SCHEMA_VERSION = 1
KIND = "distill"
STRING_COLUMNS = ("family", "student", "method", "status", "prior", "prior_steps")


def _open(path):
    return open_checked(path, SCHEMA_VERSION, KIND, "`genzoo distill RUN/zoo.h5` writes RUN/distill.h5")


def attributes(path):
    """Root attributes: job_name, zoo_path, reduce_path, distill_config (TOML), classes, ..."""
    with _open(path) as f:
        return _attrs(f)


def mixtures(path):
    """The target mixtures' class proportions [X, K]."""
    with _open(path) as f:
        return f["mixtures/proportions"][()]


def results(path):
    """Every column of /results as numpy arrays (strings as str), plus curve_steps."""
    with _open(path) as f:
        group = f["results"]
        out = {}
        for name in group:
            data = group[name]
            out[name] = np.array(data.asstr()[()], dtype=str) if name in STRING_COLUMNS else data[()]
        return out


def summary(path, column="test_loss"):
    """Mean, standard deviation and count of a column over mixtures and seeds per (student, method, n),
    with the relative change of the mean against scratch's (None without scratch)."""
    r = results(path)
    ok = r["status"] == "ok"
    rows = []
    for student in sorted(set(r["student"])):
        for n in sorted(set(r["n"].tolist())):
            base = None
            at = ok & (r["student"] == student) & (r["n"] == n)
            if np.any(at & (r["method"] == "scratch")):
                base = float(np.mean(r[column][at & (r["method"] == "scratch")]))
            for method in sorted(set(r["method"][at])):
                values = r[column][at & (r["method"] == method)]
                mean = float(np.mean(values))
                rows.append({"student": student, "method": method, "n": int(n), "mean": mean,
                             "sd": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0, "count": int(len(values)),
                             "vs_scratch": None if base is None else mean / base - 1.0})
    return rows


def student_weights(path, row, std=False):
    """The weights of result row `row` as named tensors (std=True: vi's posterior standard deviations)."""
    with _open(path) as f:
        student = f["results/student"].asstr()[row]
        if student not in f["students"]:
            raise KeyError(f"no student {student!r} in {path} (it has: {', '.join(f['students'])})")
        group = f["students"][student]
        rows = group["row"][()]
        where = np.flatnonzero(rows == row)
        flat = group["std" if std else "weights"][int(where[0])]
        return _unflatten(flat, _layout(group["layout"]))


def plot_test_loss(path, out_png, column="test_loss"):
    """Test loss against n per method (one panel per student), mean over mixtures and seeds with the
    standard deviation as error bars, n on a log axis. Returns the figure."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = summary(path, column)
    students = sorted({row["student"] for row in rows})
    fig, axes = plt.subplots(1, len(students), figsize=(5 * len(students), 4), squeeze=False)
    for ax, student in zip(axes[0], students):
        for method in sorted({row["method"] for row in rows if row["student"] == student}):
            mine = sorted((row for row in rows if row["student"] == student and row["method"] == method), key=lambda r: r["n"])
            ax.errorbar([r["n"] for r in mine], [r["mean"] for r in mine], yerr=[r["sd"] for r in mine],
                        marker="o", capsize=3, label=method)
        ax.set_xscale("log")
        ax.set_xlabel("training images n")
        # mlp students' losses are cross-entropies; the autoencoders' per-pixel squared errors.
        units = "cross-entropy, nats" if student.split(":")[0] == "mlp" else "MSE per pixel"
        ax.set_ylabel(f"{column} ({units})")
        ax.set_title(student)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    return fig


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print("usage: python3 genzoo_distill.py RUN/distill.h5 [--png OUT.png]")
        return 0 if len(argv) >= 2 else 2
    path = argv[1]
    a = attributes(path)
    print(f"distill of {a['zoo_path']} (job {a['job_name']}), genzoo {a['genzoo_version']}, created {a['created_utc']}")
    print(f"{'student':24s} {'n':>6s}  {'method':10s} {'test_loss':>20s}  vs scratch")
    for row in summary(path):
        vs = "" if row["vs_scratch"] is None else f"{100 * row['vs_scratch']:+.1f}%"
        print(f"{row['student']:24s} {row['n']:6d}  {row['method']:10s} {row['mean']:.5f} ± {row['sd']:.5f}  {vs}")
    if "--png" in argv:
        out = argv[argv.index("--png") + 1]
        plot_test_loss(path, out)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
