"""A report of a genzoo run: RUN/report/index.html with PNG figures and tables for whatever the run holds.

    PYTHONPATH=analysis python3 -m genzoo_analysis.report RUN [--out DIR] [--strict] [--quiet]

RUN is a run directory with zoo.h5 and, when present, reduce.h5 (`genzoo reduce`) and distill.h5
(`genzoo distill`). The page has a part per file -- the zoo, its generative families, the reduction,
the distillation -- and a Kohonen map of the zoo (seed 003, genzoo_analysis.som). What a run does not
hold (no reduce.h5, a family without samples, a metric column the zoo lacks) is skipped with a note
on the page. A part that fails is reported on the page and on stderr and the rest still renders;
--strict makes such a failure an error (exit 1), as the tests use it.

From Python: `report.write_report("runs/q")` returns (path of index.html, the parts that failed).
"""

import argparse
import contextlib
import html
import os
import sys
import time
import traceback

import numpy as np

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import colors as mcolors  # noqa: E402

from . import distill as gd  # noqa: E402
from . import reduce as gr  # noqa: E402
from . import simplex, som  # noqa: E402
from . import zoo as gz  # noqa: E402

FASHION_MNIST = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot")
FAMILY_ORDER = ("linear_ae", "conv_ae", "vae", "gan", "mlp")
STATUS_COLOURS = {"ok": "#4c9a5b", "diverged": "#c0392b", "garbage": "#e67e22", "collapsed": "#8e44ad"}
CLASS_COLOURS = ("#d62728", "#2ca02c", "#1f77b4", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
                 "#17becf")
# Seed 000's dataset-identification probe (one linear layer; one convolutional layer).
SEED000_PROBE = {"linear_ae": ("1 linear layer", 0.79, 1.00), "conv_ae": ("1 convolutional layer", 0.55, 0.78)}
DPI = 90

plt.rcParams.update({"font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8, "legend.fontsize": 7,
                     "xtick.labelsize": 7, "ytick.labelsize": 7, "figure.dpi": DPI})


def loss_units(family):
    """What a family's final_loss and test_loss measure (src/train/trainer.cpp, src/models/gan.cpp)."""
    if family == "gan":
        return "−log D(x) on real images"
    return "cross-entropy, nats" if family == "mlp" else "MSE per pixel"


def family_colour(family):
    if family in FAMILY_ORDER:
        return plt.get_cmap("tab10")(FAMILY_ORDER.index(family))
    return plt.get_cmap("tab10")(4 + sum(map(ord, family)) % 6)


def class_colour(k):
    return CLASS_COLOURS[k % len(CLASS_COLOURS)]


def blend(P):
    """[N, 3] RGB colours of proportion rows: the class colours mixed by the proportions."""
    rgb = np.array([mcolors.to_rgb(class_colour(k)) for k in range(P.shape[1])])
    return np.clip(simplex.normalize(P) @ rgb, 0, 1)


def _finite(values):
    values = np.asarray(values, dtype=np.float64)
    return values[np.isfinite(values)]


def _fmt(value, digits=3):
    if value is None:
        return "–"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return "n/a"
        return f"{value:.{digits}g}" if abs(value) >= 1e4 or (value != 0 and abs(value) < 1e-2) else f"{value:.{digits}f}"
    return str(value)


# ---------------------------------------------------------------------------------------------------------------
# The page


class Page:
    """Sections of figures, tables and notes, written as index.html next to the PNGs."""

    def __init__(self, out_dir, strict=False, quiet=False):
        self.out_dir = out_dir
        self.strict = strict
        self.quiet = quiet
        self.sections = []  # (anchor, title, [html blocks])
        self.errors = []
        self.figures = 0
        self.timings = []

    def section(self, anchor, title, intro=None):
        self.sections.append((anchor, title, []))
        if intro:
            self._add(f"<p class='intro'>{intro}</p>")

    def _add(self, block):
        self.sections[-1][2].append(block)

    def note(self, text):
        """Something the run does not hold, said where the figure would have been."""
        self._add(f"<p class='note'>{html.escape(text)}</p>")

    def paragraph(self, text_html):
        self._add(f"<p>{text_html}</p>")

    def figure(self, name, fig, caption):
        """Saves fig as NAME.png and shows it with a one-line caption saying what to look for."""
        fig.savefig(os.path.join(self.out_dir, f"{name}.png"), dpi=DPI, bbox_inches="tight")
        plt.close(fig)
        self.figure_file(name, caption)

    def figure_file(self, name, caption):
        """Shows NAME.png, already written into the report directory."""
        if not os.path.isfile(os.path.join(self.out_dir, f"{name}.png")):
            raise FileNotFoundError(f"{self.out_dir}/{name}.png was not written")
        self.figures += 1
        self._add(f"<figure><img src='{name}.png' alt='{html.escape(caption, quote=True)}'>"
                  f"<figcaption>{html.escape(caption)}</figcaption></figure>")

    def table(self, header, rows, caption=None, highlight=None):
        """rows: lists of cells (numbers are formatted); highlight: row indices drawn as reference rows."""
        highlight = set(highlight or ())
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
        body = "".join(
            f"<tr{' class=ref' if i in highlight else ''}>" + "".join(
                f"<td>{html.escape(_fmt(c))}</td>" if isinstance(c, (int, float, np.number)) or c is None
                else f"<td class=t>{html.escape(str(c))}</td>" for c in row)
            + "</tr>" for i, row in enumerate(rows))
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        self._add(f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")

    @contextlib.contextmanager
    def guard(self, what):
        """Runs one figure's or table's code; a failure becomes a note on the page and a line on stderr (or,
        strict, an error) and the report goes on."""
        start = time.perf_counter()
        try:
            yield
        except Exception as e:  # noqa: BLE001 -- a report shows what it can
            plt.close("all")
            self.errors.append(f"{what}: {type(e).__name__}: {e}")
            print(f"genzoo_analysis.report: {what} failed:\n{traceback.format_exc()}", file=sys.stderr)
            if self.sections:
                self.note(f"{what} could not be drawn: {type(e).__name__}: {e}")
            if self.strict:
                raise
        finally:
            self.timings.append((what, time.perf_counter() - start))

    def write(self, title, header_html, footer_html):
        toc = " · ".join(f"<a href='#{a}'>{html.escape(t)}</a>" for a, t, _ in self.sections)
        body = "".join(f"<section id='{a}'><h2>{html.escape(t)}</h2>{''.join(blocks)}</section>"
                       for a, t, blocks in self.sections)
        page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; max-width: 1150px; margin: 0 auto; padding: 1em 1.5em; color: #222; }}
h1 {{ font-size: 1.5em; margin-bottom: 0.2em; }} h2 {{ border-bottom: 1px solid #ccc; margin-top: 2em; }}
nav {{ margin: 0.5em 0 1em; }} .meta {{ color: #555; }}
figure {{ margin: 1.2em 0; }} figure img {{ max-width: 100%; height: auto; display: block; }}
figcaption {{ color: #333; font-style: italic; margin-top: 0.3em; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 13px; }}
caption {{ text-align: left; font-style: italic; padding-bottom: 0.3em; }}
th, td {{ border: 1px solid #ddd; padding: 2px 8px; text-align: right; }} th {{ background: #f3f3f3; }}
td:first-child, th:first-child, td.t {{ text-align: left; }} tr.ref td {{ background: #fff6d8; }}
.note {{ color: #7a5b00; background: #fff9e6; padding: 4px 8px; border-left: 3px solid #e0b000; }}
.intro {{ color: #333; }} footer {{ margin-top: 3em; color: #777; font-size: 12px; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
{header_html}
<nav>{toc}</nav>
{body}
<footer>{footer_html}</footer>
</body></html>
"""
        path = os.path.join(self.out_dir, "index.html")
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(page)
        os.replace(tmp, path)
        return path


# ---------------------------------------------------------------------------------------------------------------
# The run


class Run:
    """The files of a run directory and the zoo's model table."""

    def __init__(self, run_dir):
        self.dir = run_dir
        self.zoo = self._file("zoo.h5")
        self.reduce = self._file("reduce.h5")
        self.distill = self._file("distill.h5")
        if not (self.zoo or self.reduce or self.distill):
            raise FileNotFoundError(f"{run_dir}: no zoo.h5, reduce.h5 or distill.h5 (is it a genzoo run directory?)")
        self.models = gz.load_models(self.zoo) if self.zoo else None
        source = self.zoo or self.reduce or self.distill
        self.attrs = (gz.attributes if self.zoo else gr.attributes if self.reduce else gd.attributes)(source)
        self.classes = [int(c) for c in np.atleast_1d(self.attrs.get("classes", []))]
        fashion = str(self.attrs.get("dataset", "fashion-mnist")) == "fashion-mnist"
        self.class_names = [FASHION_MNIST[c] if fashion and 0 <= c < 10 else f"class {c}" for c in self.classes]
        if self.models is not None:
            ids = self.models["id"]
            self.order = np.argsort(ids, kind="stable")
            self.sorted_ids = ids[self.order]
            present = set(self.models["family"])
            self.families = [f for f in FAMILY_ORDER if f in present] + sorted(present - set(FAMILY_ORDER))
            if not self.class_names:
                self.class_names = [f"class {k}" for k in range(self.models["proportions"].shape[1])]
        else:
            self.families = []

    def _file(self, name):
        path = os.path.join(self.dir, name)
        return path if os.path.isfile(path) else None

    @property
    def k(self):
        return len(self.class_names)

    def rows(self, model_ids):
        """Row indices into self.models of the given model ids (KeyError for an unknown id)."""
        model_ids = np.asarray(model_ids)
        pos = np.searchsorted(self.sorted_ids, model_ids)
        pos = np.clip(pos, 0, len(self.sorted_ids) - 1)
        bad = self.sorted_ids[pos] != model_ids
        if np.any(bad):
            raise KeyError(f"model ids {model_ids[bad][:5].tolist()} of reduce.h5/distill.h5 are not in {self.zoo}")
        return self.order[pos]

    def column(self, name):
        return None if self.models is None else self.models.get(name)

    def family_mask(self, family):
        return self.models["family"] == family


def _simplex_axes(fig, n, run, titles):
    axes = [fig.add_subplot(1, n, i + 1) for i in range(n)]
    for ax, title in zip(axes, titles):
        simplex.draw_frame(ax, run.class_names)
        ax.set_title(title, pad=12)
    return axes


# ---------------------------------------------------------------------------------------------------------------
# Zoo


def zoo_part(page, run):
    m = run.models
    page.section("zoo", "Zoo", f"{len(m['id'])} models of {len(run.families)} families on mixtures of "
                 f"{run.k} classes ({', '.join(run.class_names)}); {html.escape(os.path.basename(run.zoo))}.")

    with page.guard("models per family and status"):
        statuses = [s for s in STATUS_COLOURS if s in set(m["status"])] + sorted(set(m["status"]) - set(STATUS_COLOURS))
        fig, ax = plt.subplots(figsize=(7, 0.6 + 0.45 * len(run.families)))
        left = np.zeros(len(run.families))
        for s in statuses:
            counts = np.array([np.sum((m["family"] == f) & (m["status"] == s)) for f in run.families])
            ax.barh(run.families, counts, left=left, color=STATUS_COLOURS.get(s, "0.5"), label=s)
            for y, (x0, c) in enumerate(zip(left, counts)):
                if c:
                    ax.text(x0 + c / 2, y, str(c), ha="center", va="center", fontsize=7, color="white")
            left += counts
        ax.invert_yaxis()
        ax.set_xlabel("models")
        ax.legend(loc="lower right", ncol=len(statuses))
        page.figure("zoo_status", fig, "Models per family and status: every bar should be green (ok); diverged "
                    "(NaN loss), garbage (worse than the mean image) or collapsed (a GAN without diversity) models "
                    "deserve a look before the reduction is trusted.")
        designs = sorted(set(m["design"])) if "design" in m else []
        rows = []
        for f in run.families:
            mask = m["family"] == f
            row = [f, int(mask.sum())] + [int(np.sum(mask & (m["status"] == s))) for s in statuses]
            row += [int(np.sum(mask & (m["design"] == d))) for d in designs]
            row += [int(np.median(m["n_samples"][mask])), float(np.nanmedian(m["test_loss"][mask])),
                    float(np.sum(m["train_seconds"][mask]))]
            rows.append(row)
        page.table(["family", "models"] + statuses + [f"design {d}" for d in designs]
                   + ["median n", "median test loss", "train s (sum)"], rows)

    with page.guard("loss distributions"):
        n = len(run.families)
        fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 2.6), squeeze=False)
        for ax, f in zip(axes[0], run.families):
            mask = run.family_mask(f)
            final, test = _finite(m["final_loss"][mask]), _finite(m["test_loss"][mask])
            both = np.concatenate([final, test])
            if both.size == 0:
                ax.set_title(f"{f}: no finite losses")
                continue
            lo, hi = both.min(), both.max()
            log = lo > 0 and hi / lo > 20
            bins = np.geomspace(lo, hi, 25) if log else np.linspace(lo, hi if hi > lo else lo + 1e-9, 25)
            ax.hist(final, bins=bins, alpha=0.6, label="final (train)", color="tab:blue")
            ax.hist(test, bins=bins, alpha=0.6, label="test", color="tab:orange")
            if log:
                ax.set_xscale("log")
            ax.set_title(f"{f} ({mask.sum()} models)")
            ax.set_xlabel(loss_units(f))
            ax.legend()
        axes[0][0].set_ylabel("models")
        fig.tight_layout()
        page.figure("zoo_losses", fig, "Loss per family, train (final) against test: the two histograms should "
                    "overlap; a test histogram shifted right means the models overfit their small mixtures, a long "
                    "right tail marks models that trained badly.")

    with page.guard("training time"):
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 2.8), gridspec_kw={"width_ratios": [3, 2]})
        jitter = np.random.default_rng(0)
        for y, f in enumerate(run.families):
            t = _finite(m["train_seconds"][run.family_mask(f)])
            a1.scatter(t, y + jitter.uniform(-0.25, 0.25, len(t)), s=6, color=family_colour(f), alpha=0.6)
            if t.size:
                a1.plot([np.median(t)] * 2, [y - 0.35, y + 0.35], color="k", lw=1.5)
        a1.set_yticks(range(len(run.families)))
        a1.set_yticklabels(run.families)
        a1.set_xscale("log")
        a1.invert_yaxis()
        a1.set_xlabel("train_seconds per model (log; black bar = median)")
        ranks = m["rank"].astype(np.int64)
        base = np.zeros(int(ranks.max()) + 1)
        for f in run.families:
            mask = run.family_mask(f)
            totals = np.bincount(ranks[mask], weights=m["train_seconds"][mask], minlength=len(base))
            a2.bar(np.arange(len(totals)), totals, bottom=base, color=family_colour(f), label=f)
            base += totals
        a2.set_xlabel("MPI rank")
        a2.set_ylabel("train seconds (sum)")
        a2.set_xticks(np.arange(len(base)))
        a2.set_xlim(-0.5 - max(0, 2 - len(base)), len(base) - 0.5 + max(0, 2 - len(base)))
        a2.legend(fontsize=6)
        fig.tight_layout()
        total = float(np.sum(m["train_seconds"]))
        page.figure("zoo_time", fig, f"Training time per model by family (left; models trained together in one "
                    f"batch share its time; {total:.0f} s in all) and summed per MPI rank (right): the families' "
                    "relative cost, and, with several ranks, bars of unequal height mean an imbalanced load.")

    with page.guard("class proportions coloured by test loss"):
        n = len(run.families)
        fig = plt.figure(figsize=(3.6 * n, 3.3))
        axes = _simplex_axes(fig, n, run, [f"{f}: test loss, {loss_units(f)}" for f in run.families])
        for ax, f in zip(axes, run.families):
            mask = run.family_mask(f) & np.isfinite(m["test_loss"])
            xy = simplex.project(m["proportions"][mask])
            loss = m["test_loss"][mask]
            if loss.size == 0:
                continue
            norm = mcolors.LogNorm(loss.min(), loss.max()) if loss.min() > 0 and loss.max() / loss.min() > 20 else None
            sc = ax.scatter(xy[:, 0], xy[:, 1], c=loss, s=14, cmap="viridis", norm=norm, edgecolors="none", zorder=2)
            fig.colorbar(sc, ax=ax, shrink=0.6, pad=0.0)
        kind = "ternary plot" if run.k == 3 else "simplex projection"
        page.figure("zoo_simplex", fig, f"Each model's class proportions ({kind}, corners = one class only) coloured "
                    "by its test loss: look for smooth colour gradients towards the classes that are hardest to model, "
                    "and for regions of the simplex no model covers.")

    if "design" in m and np.any(m["design"] != "random"):
        with page.guard("designs"):
            design_figure(page, run)
    else:
        page.note("No structured designs (triplets, chains, probe datasets) in this zoo.")


def design_figure(page, run):
    m = run.models
    fams = [f for f in run.families if np.any((m["family"] == f) & (m["design"] != "random"))]
    fig = plt.figure(figsize=(3.6 * len(fams), 3.6))
    axes = _simplex_axes(fig, len(fams), run, fams)
    xy_all = simplex.project(m["proportions"])
    legend = {}
    for ax, f in zip(axes, fams):
        mask = m["family"] == f
        rnd = mask & (m["design"] == "random")
        ax.scatter(*xy_all[rnd].T, s=6, color="0.75", zorder=1)
        for design in ("triplet", "chain"):
            groups = sorted(set(m["design_group"][mask & (m["design"] == design)].tolist()))
            for g in groups:
                sel = np.flatnonzero(mask & (m["design"] == design) & (m["design_group"] == g))
                sel = sel[np.argsort(m["design_role"][sel])]
                if len(sel) != 3:
                    continue
                p = xy_all[sel]
                if design == "triplet":
                    ax.plot([p[0, 0], p[2, 0], p[1, 0]], [p[0, 1], p[2, 1], p[1, 1]], color="tab:purple", lw=0.8, zorder=2)
                    legend["triplet part D1, D2"] = ax.scatter(*p[:2].T, s=14, color="tab:purple", zorder=3)
                    legend["triplet union D1 ∪ D2"] = ax.scatter(*p[2], s=30, marker="s", facecolor="white",
                                                                 edgecolor="tab:purple", zorder=4)
                else:
                    sizes = 10 + 40 * m["n_samples"][sel] / m["n_samples"][mask].max()
                    ax.plot(*p.T, color="tab:red", lw=0.8, zorder=2)
                    legend["chain Da ⊂ Db ⊂ Dc (size ∝ n)"] = ax.scatter(*p.T, s=sizes, color="tab:red", alpha=0.7,
                                                                        zorder=3)
        probe = mask & (m["design"] == "probe")
        if np.any(probe):
            a = probe & (m["design_role"] == 0)
            b = probe & (m["design_role"] != 0)
            legend["probe dataset A"] = ax.scatter(*xy_all[a].T, s=40, marker="o", facecolor="none", edgecolor="k", zorder=5)
            legend["probe datasets B"] = ax.scatter(*xy_all[b].T, s=40, marker="^", facecolor="none", edgecolor="tab:blue",
                                                    zorder=5)
    fig.legend(legend.values(), legend.keys(), loc="lower center", ncol=min(5, len(legend)), frameon=False)
    fig.subplots_adjust(bottom=0.14)
    page.figure("zoo_designs", fig, "The structured designs on the simplex (grey: random mixtures): a triplet's union "
                "(square) lies between its two parts, nearer the larger; a chain's nested datasets (red, growing) keep "
                "nearly one mixture; probe models share dataset A (circle) or a dataset B (triangle).")


# ---------------------------------------------------------------------------------------------------------------
# Generative families


def generative_part(page, run):
    m = run.models
    generative = [f for f in run.families if f in ("vae", "gan")
                  or ("fid" in m and np.any(np.isfinite(m["fid"][m["family"] == f])))]
    if not generative:
        return
    page.section("generative", "Generative families", "FID compares 256 generated images with test images of the "
                 "model's own mixture in the feature net's embedding (lower is better); mode coverage counts the "
                 "model's classes the feature net finds among its samples.")
    stored = gz.sample_families(run.zoo)
    for f in generative:
        if f not in stored:
            page.note(f"{f}: no sample grid in zoo.h5 (/samples/{f}; the job's sample_grid key).")
            continue
        with page.guard(f"{f} sample grids"):
            sample_grid_figure(page, run, f)

    has = [c for c in ("fid", "modes_found", "modes_expected", "mode_tv") if c in m]
    if "fid" not in m:
        page.note("zoo.h5 has no fid column: FID and mode-coverage distributions skipped.")
    else:
        with page.guard("FID and mode coverage"):
            fig, axes = plt.subplots(1, 3, figsize=(11, 2.8))
            for f in generative:
                mask = run.family_mask(f)
                fid = _finite(m["fid"][mask])
                if fid.size:
                    axes[0].hist(fid, bins=20, alpha=0.6, color=family_colour(f), label=f"{f} (median {np.median(fid):.0f})")
                if "modes_found" in has and "modes_expected" in has:
                    found, expected = m["modes_found"][mask], m["modes_expected"][mask]
                    ok = np.isfinite(found) & np.isfinite(expected) & (expected > 0)
                    if np.any(ok):
                        coverage = found[ok] / expected[ok]
                        values, counts = np.unique(np.round(coverage, 2), return_counts=True)
                        offset = (generative.index(f) - (len(generative) - 1) / 2) * 0.04
                        axes[1].bar(values + offset, counts, width=0.04, color=family_colour(f), label=f)
                if "mode_tv" in has:
                    tv = _finite(m["mode_tv"][mask])
                    if tv.size:
                        axes[2].hist(tv, bins=np.linspace(0, 1, 21), alpha=0.6, color=family_colour(f), label=f)
            axes[0].set_xlabel("FID")
            axes[1].set_xlabel("modes found / modes expected")
            axes[2].set_xlabel("total variation: generated vs trained class shares")
            for ax in axes:
                ax.set_ylabel("models")
                if ax.has_data():
                    ax.legend()
            fig.tight_layout()
            page.figure("gen_fid", fig, "FID (left), share of the trained classes found among the samples (middle) "
                        "and the total-variation distance between generated and trained class shares (right): good "
                        "models sit at low FID, coverage 1 and distance near 0; coverage below 1 is mode dropping.")

    shares = [c for c in (f"generated_share_{k}" for k in range(run.k)) if c in m]
    if len(shares) != run.k:
        page.note("zoo.h5 has no generated_share_<k> columns: generated class shares skipped.")
        return
    with page.guard("generated class shares"):
        fig, axes = plt.subplots(1, len(generative), figsize=(3.4 * len(generative), 3.2), squeeze=False)
        for ax, f in zip(axes[0], generative):
            mask = run.family_mask(f)
            for k in range(run.k):
                gen = m[f"generated_share_{k}"][mask]
                ok = np.isfinite(gen)
                ax.scatter(m["proportions"][mask][ok, k], gen[ok], s=14, color=class_colour(k), label=run.class_names[k],
                           alpha=0.8)
            ax.plot([0, 1], [0, 1], color="0.4", lw=0.8, ls="--")
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            ax.set_aspect("equal")
            ax.set_xlabel("class share in the training mixture")
            ax.set_ylabel("class share among generated images")
            ax.set_title(f)
            ax.legend()
        fig.tight_layout()
        page.figure("gen_shares", fig, "Generated class shares (the feature net's labels of each model's samples) "
                    "against the mixture the model was trained on: points on the dashed diagonal mean the model "
                    "reproduces its mixture; points on the floor are classes it dropped.")


def _montage(images, interpolation):
    """One grey image of a model's samples: the grid square-ish, the interpolation row below it."""
    grid = images[:len(images) - interpolation] if interpolation else images
    side = images.shape[-1]
    cols = max(int(np.ceil(np.sqrt(len(grid)))), interpolation or 1)
    rows = int(np.ceil(len(grid) / cols)) + (1 if interpolation else 0)
    canvas = np.full((rows * (side + 1) + (2 if interpolation else 0), cols * (side + 1)), 0.5)
    for i, image in enumerate(grid):
        r, c = divmod(i, cols)
        canvas[r * (side + 1):r * (side + 1) + side, c * (side + 1):c * (side + 1) + side] = image
    if interpolation:
        top = (rows - 1) * (side + 1) + 2
        for c, image in enumerate(images[len(images) - interpolation:]):
            canvas[top:top + side, c * (side + 1):c * (side + 1) + side] = image
    return np.clip(canvas, 0, 1)


def sample_grid_figure(page, run, family):
    ids, images, interpolation = gz.sample_images(run.zoo, family)
    rows = run.rows(ids)
    m = run.models
    fid = m["fid"][rows] if "fid" in m else np.full(len(ids), np.nan)
    order = np.argsort(np.where(np.isfinite(fid), fid, np.inf), kind="stable")
    ranked = order[np.isfinite(fid[order])]
    pick = min(2, len(ranked) // 2) if len(ranked) >= 2 else len(ranked)
    chosen = list(ranked[:pick]) + list(ranked[len(ranked) - pick:]) if pick else list(order[:min(4, len(order))])
    labels = (["best"] * pick + ["worst"] * pick) if pick else ["model"] * len(chosen)
    fig, axes = plt.subplots(1, len(chosen), figsize=(3.2 * len(chosen), 3.0), squeeze=False)
    for ax, i, label in zip(axes[0], chosen, labels):
        ax.imshow(_montage(images[i], interpolation), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        r = rows[i]
        extra = ""
        if "modes_found" in m and np.isfinite(m["modes_found"][r]):
            extra = f", modes {m['modes_found'][r]:.0f}/{m['modes_expected'][r]:.0f}"
        ax.set_title(f"{label}: model {ids[i]}\nFID {_fmt(fid[i], 1)}{extra}", fontsize=8)
        ax.set_xlabel("p = " + " ".join(f"{p:.2f}" for p in m["proportions"][r]), fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    what = "the lowest and highest FID" if pick else "the first models (no FID stored)"
    page.figure(f"gen_samples_{family}", fig, f"{family} samples of {what} (p = the model's shares of "
                f"{', '.join(run.class_names)}), from "
                "latent codes shared by all models; the bottom row interpolates between two codes: good models show "
                "sharp items of every trained class, bad ones blur, repeat one item or produce noise.")


# ---------------------------------------------------------------------------------------------------------------
# Reduction


def reduce_part(page, run):
    path = run.reduce
    a = gr.attributes(path)
    page.section("reduce", "Reduction", f"reduce.h5 of job {html.escape(str(a.get('job_name')))}, created "
                 f"{html.escape(str(a.get('created_utc')))}: vectorizations "
                 f"{html.escape(', '.join(gr.vectorizations(path)))}.")
    theorem = gr.theorem(path)
    if theorem:  # a gaussian-source zoo: seed 000's theorem is what reduce computed
        with page.guard("seed 000's theorem"):
            theorem_figure(page, theorem)
        return
    with page.guard("probe table"):
        probe_part(page, run)
    with page.guard("recall against the proportion gap"):
        gap_figure(page, run)
    if run.models is None:
        page.note("No zoo.h5 in the run: the embedding figures need the models' true class counts and are skipped.")
    else:
        with page.guard("embedding metrics"):
            embedding_table(page, run)
        embedded = [f for f in run.families if f in set(_embedded_families(path))]
        for f, why in gr.not_embedded(path).items():
            page.note(f"{f} is not embedded: {why}")
        if embedded:
            embeddings = {f: gr.embedding(path, f) for f in embedded}
            with page.guard("predicted shapes on the simplex"):
                shapes_figure(page, run, embeddings)
            with page.guard("predicted vs true Hellinger distances"):
                hellinger_figure(page, run, embeddings)
            with page.guard("additivity and order"):
                additivity_order_figure(page, run, embeddings, a)
        with page.guard("dendrograms"):
            dendrogram_figure(page, run)
    with page.guard("mutual information"):
        information_figure(page, run)


def _embedded_families(path):
    out = []
    for row in gr.embedding_metrics(path):
        if row["selected"] and row["family"] not in out:
            out.append(row["family"])
    return out


def probe_part(page, run):
    rows = gr.probe_scores(run.reduce)
    best = [r for r in rows if r["best"]]
    if not best:
        page.note("No dataset-identification probe in reduce.h5 (the job has no probe_models).")
        return
    table, highlight = [], []
    for family in [f for f in FAMILY_ORDER if any(r["family"] == f for r in best)] + \
            sorted({r["family"] for r in best} - set(FAMILY_ORDER)):
        if family in SEED000_PROBE:
            label, precision, recall = SEED000_PROBE[family]
            highlight.append(len(table))
            table.append([family, f"seed 000: {label}", "", precision, recall, "", ""])
        for r in (r for r in best if r["family"] == family):
            table.append([family, r["feature"], r["classifier"], r["precision"], r["recall"], r["accuracy"],
                          f"{r['models_a']} / {r['models_b']}"])
    page.table(["family", "vectorization", "best classifier", "precision", "recall", "accuracy", "models A / B"], table,
               caption="Dataset-identification probe (k-fold cross-validated; positive = dataset B), the best classifier "
                       "per vectorization, beside seed 000's numbers (shaded rows).", highlight=highlight)
    families = sorted({r["family"] for r in best}, key=lambda f: (FAMILY_ORDER + (f,)).index(f))
    fig, axes = plt.subplots(1, len(families), figsize=(4.2 * len(families), 2.8), squeeze=False)
    for ax, family in zip(axes.flat, families):
        mine = [r for r in best if r["family"] == family]
        x = np.arange(len(mine))
        ax.bar(x - 0.2, [r["precision"] for r in mine], width=0.4, label="precision", color="tab:blue")
        ax.bar(x + 0.2, [r["recall"] for r in mine], width=0.4, label="recall", color="tab:orange")
        if family in SEED000_PROBE:
            _, p, rc = SEED000_PROBE[family]
            ax.axhline(p, color="navy", ls="--", lw=1.2, label=f"seed 000 precision {p:.2f}", zorder=3)
            ax.axhline(rc, color="darkred", ls=":", lw=1.5, label=f"seed 000 recall {rc:.2f}", zorder=3)
        ax.set_xticks(x)
        ax.set_xticklabels([r["feature"] for r in mine], rotation=20)
        ax.set_ylim(0, 1.05)
        ax.set_title(family)
        ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=2, frameon=False)
    fig.tight_layout()
    page.figure("reduce_probe", fig, "Probe precision and recall per vectorization against seed 000's (dashed: "
                "precision, dotted: recall): bars above the lines identify the training dataset better than the "
                "seed's probe did.")


def gap_figure(page, run):
    best = [r for r in gr.probe_scores(run.reduce) if r["best"] and r["gaps"] > 0]
    if not best:
        page.note("No proportion-gap sweep in this run (the job's [probe] gaps key): recall against the gap skipped.")
        return
    families = sorted({r["family"] for r in best}, key=lambda f: (FAMILY_ORDER + (f,)).index(f))
    fig, axes = plt.subplots(1, len(families), figsize=(4 * len(families), 2.8), squeeze=False)
    for ax, family in zip(axes.flat, families):
        for r in (r for r in best if r["family"] == family):
            sweep = gr.gap_sweep(run.reduce, family, r["feature"], r["classifier"])
            order = np.argsort(sweep["gap"])
            ax.plot(sweep["gap"][order], sweep["recall"][order], marker="o", ms=3, label=r["feature"])
        ax.set_xlabel("proportion gap Δ (total variation between A and B)")
        ax.set_ylabel("recall")
        ax.set_ylim(0, 1.05)
        ax.set_title(family)
        ax.legend()
    fig.tight_layout()
    page.figure("reduce_gap", fig, "Recall of the probe against how different datasets A and B are: recall should rise "
                "with the gap; the gap at which a vectorization reaches recall ~1 is its resolution.")


def embedding_table(page, run):
    rows = gr.embedding_metrics(run.reduce)
    if not rows:
        page.note("No embeddings in reduce.h5.")
        return
    table = [[r["family"], r["feature"] + (" (selected)" if r["selected"] else ""), r.get("test_models"),
              r.get("validation_angular_error_deg"), r.get("angular_error_deg"), r.get("hellinger_spearman"),
              r.get("additivity_rel_error"), r.get("order_violation_rate"), r.get("cophenetic_corr")] for r in rows]
    page.table(["family", "vectorization", "test models", "val. angle °", "test angle °", "Hellinger Spearman",
                "additivity rel. error", "order violations", "cophenetic corr."], table,
               caption="Embedding metrics on held-out test models (n/a: no test triplet or chain); the selected "
                       "vectorization has the lowest validation angular error and builds the hierarchy.")


def _truth(run, e):
    rows = run.rows(e["model_id"])
    return rows, simplex.normalize(run.models["counts"][rows])


def shapes_figure(page, run, embeddings):
    fams = list(embeddings)
    fig = plt.figure(figsize=(3.8 * len(fams), 3.8))
    axes = _simplex_axes(fig, len(fams), run, [f"{f} ({embeddings[f]['feature']})" for f in fams])
    for ax, f in zip(axes, fams):
        e = embeddings[f]
        _, p_true = _truth(run, e)
        p_pred = e["u"] ** 2
        t_xy, p_xy = simplex.project(p_true), simplex.project(p_pred)
        test = e["split"] == 2
        for sel, alpha, lw in ((~test, 0.25, 0.5), (test, 1.0, 1.0)):
            segs = np.stack([t_xy[sel], p_xy[sel]], axis=1)
            for s in segs:
                ax.plot(s[:, 0], s[:, 1], color="0.3", alpha=alpha, lw=lw, zorder=2)
            ax.scatter(*t_xy[sel].T, s=10, color="k", alpha=alpha, zorder=3)
            ax.scatter(*p_xy[sel].T, s=14, color="tab:red", alpha=alpha, zorder=4)
        ax.text(0.5, -0.13, f"test angular error {_fmt(e.get('angular_error_deg'), 2)}°", ha="center", fontsize=7,
                transform=ax.transData if run.k == 3 else ax.transAxes)
    from matplotlib.lines import Line2D
    fig.legend([Line2D([], [], ls="", marker="o", color="k"), Line2D([], [], ls="", marker="o", color="tab:red")],
               ["true proportions c / Σc", "predicted shape u² (test models dark, training faded)"], loc="lower center",
               ncol=2, frameon=False)
    fig.subplots_adjust(bottom=0.12)
    page.figure("reduce_shapes", fig, "Each model's predicted shape (u², red) joined to its true class proportions "
                "(black) on the simplex: short segments mean the embedding reads the training mixture off the weights; "
                "judge by the dark (held-out test) models.")


def hellinger_figure(page, run, embeddings):
    from scipy.stats import spearmanr
    fams = list(embeddings)
    fig, axes = plt.subplots(1, len(fams), figsize=(3.4 * len(fams), 3.2), squeeze=False)
    for ax, f in zip(axes[0], fams):
        e = embeddings[f]
        _, p_true = _truth(run, e)
        for split, colour, label in ((0, "0.75", "train pairs"), (2, "tab:red", "test pairs")):
            idx = np.flatnonzero(e["split"] == split)
            if split == 0 and len(idx) > 200:
                idx = np.random.default_rng(0).choice(idx, 200, replace=False)
            if len(idx) < 2:
                continue
            iu = np.triu_indices(len(idx), 1)
            h_true = simplex.hellinger(p_true[idx])[iu]
            u = e["u"][idx]
            h_pred = np.linalg.norm(u[:, None, :] - u[None, :, :], axis=2)[iu] / np.sqrt(2)
            rho = spearmanr(h_true, h_pred)[0] if len(h_true) > 2 else np.nan
            ax.scatter(h_true, h_pred, s=5 if split == 0 else 9, color=colour, alpha=0.6 if split == 0 else 0.9,
                       label=f"{label} (Spearman {_fmt(rho, 2)})", zorder=2 if split else 1)
        top = max(ax.get_xlim()[1], ax.get_ylim()[1])
        ax.plot([0, top], [0, top], color="0.3", ls="--", lw=0.8)
        ax.set_xlabel("true Hellinger distance")
        ax.set_ylabel("predicted ‖u_i − u_j‖ / √2")
        ax.set_title(f"{f} (stored test Spearman {_fmt(e.get('hellinger_spearman'), 2)})")
        ax.legend(loc="upper left")
    fig.tight_layout()
    page.figure("reduce_hellinger", fig, "Predicted distances between models' shapes against the true Hellinger "
                "distances of their training mixtures, per pair of models: a monotone cloud near the diagonal "
                "means the embedding keeps which models are near which (seed 000 step 4.2).")


def _order_tolerance(attrs):
    for line in str(attrs.get("reduce_config", "")).splitlines():
        key, _, val = line.partition("=")
        if key.strip() == "order_tolerance":
            try:
                return float(val.split("#")[0])
            except ValueError:
                break
    return 0.02


def embedding_checks(run, e, tolerance=0.02):
    """Seed 000's checks of one embedding recomputed from the stored z and u against zoo.h5's counts and
    designs, as genzoo reduce computes them (so the test-split values reproduce its metrics):

    angular_error_deg, hellinger_spearman: over the test models; triplets: [(indices into e's rows (D1, D2,
    union), relative error ||z(U) - z(D1) - z(D2)|| / ||z(U)||, all in test)]; chains: [(indices (a, b, c),
    [violated (a,b), (b,c), (a,c)], all in test)], a pair violated when z_small > z_large + tolerance * sum(z_large)
    in some class; additivity_rel_error, order_violation_rate: their means over test triplets / chain pairs
    (NaN without any)."""
    from scipy.stats import spearmanr
    m = run.models
    rows, _ = _truth(run, e)
    z, u, split = e["z"], e["u"], e["split"]
    u_true = simplex.shape(m["counts"][rows])
    test = np.flatnonzero(split == 2)
    cosine = np.sum(u[test] * u_true[test], axis=1) / np.sqrt(
        np.maximum(np.sum(u[test] ** 2, axis=1) * np.sum(u_true[test] ** 2, axis=1), 1e-300))
    out = {"angular_error_deg": float(np.mean(np.degrees(np.arccos(np.clip(cosine, -1, 1))))) if len(test) else np.nan,
           "hellinger_spearman": np.nan, "triplets": [], "chains": []}
    if len(test) >= 3:
        iu = np.triu_indices(len(test), 1)

        def chordal(v):
            return np.sqrt(np.sum((v[:, None, :] - v[None, :, :]) ** 2, axis=2) / 2.0)[iu]
        out["hellinger_spearman"] = float(spearmanr(chordal(u[test]), chordal(u_true[test]))[0])
    design, group, role = m["design"][rows], m["design_group"][rows], m["design_role"][rows]
    for kind in ("triplet", "chain"):
        for g in sorted(set(group[design == kind].tolist())):
            sel = np.flatnonzero((design == kind) & (group == g) & (role >= 0) & (role <= 2))
            if len(sel) != 3:
                continue
            sel = sel[np.argsort(role[sel])]
            in_test = bool(np.all(split[sel] == 2))
            if kind == "triplet":
                whole, parts = z[sel[2]], z[sel[0]] + z[sel[1]]
                out["triplets"].append((sel, float(np.linalg.norm(whole - parts) / max(np.linalg.norm(whole), 1e-300)),
                                        in_test))
            else:
                bad = [bool(np.any(z[sel[a]] > z[sel[b]] + tolerance * z[sel[b]].sum())) for a, b in ((0, 1), (1, 2), (0, 2))]
                out["chains"].append((sel, bad, in_test))
    errors = [err for _, err, t in out["triplets"] if t]
    pairs = [v for _, bad, t in out["chains"] if t for v in bad]
    out["additivity_rel_error"] = float(np.mean(errors)) if errors else np.nan
    out["order_violation_rate"] = float(np.mean(pairs)) if pairs else np.nan
    return out


def additivity_order_figure(page, run, embeddings, attrs):
    m = run.models
    tolerance = _order_tolerance(attrs)
    checks = {f: embedding_checks(run, e, tolerance) for f, e in embeddings.items()}
    fams = [f for f in embeddings if checks[f]["triplets"] or checks[f]["chains"]]
    if not fams:
        page.note("No triplets or chains among the embedded models: additivity and order checks skipped.")
        return
    fig, axes = plt.subplots(len(fams), 2, figsize=(9, 3.4 * len(fams)), squeeze=False)
    rows_table = []
    for i, f in enumerate(fams):
        z, c = embeddings[f]["z"], checks[f]
        rows, _ = _truth(run, embeddings[f])
        ax = axes[i][0]
        for sel, _, test in c["triplets"]:
            parts, whole = z[sel[0]] + z[sel[1]], z[sel[2]]
            for k in range(run.k):
                ax.scatter(parts[k], whole[k], s=16 if test else 8, color=class_colour(k), alpha=1 if test else 0.35,
                           edgecolors="k" if test else "none", linewidths=0.5)
        lim = max(ax.get_xlim()[1], ax.get_ylim()[1]) if ax.has_data() else 1
        ax.plot([0, lim], [0, lim], color="0.3", ls="--", lw=0.8)
        ax.set_xlabel("z(D1) + z(D2), per class")
        ax.set_ylabel("z(D1 ∪ D2)")
        ax.set_title(f"{f}: additivity (test rel. error {_fmt(c['additivity_rel_error'], 3)})")
        ax = axes[i][1]
        for sel, bad, test in c["chains"]:
            n_true = m["n_samples"][rows[sel]]
            mass = z[sel].sum(axis=1)
            ax.plot(n_true, mass, marker="o", ms=5 if test else 3, lw=1.5 if test else 0.8,
                    color="tab:red" if test else "0.6", alpha=1 if test else 0.6)
            for (a, b), violated in zip(((0, 1), (1, 2)), bad[:2]):
                if violated:
                    ax.plot(n_true[[a, b]], mass[[a, b]], color="k", lw=2.5, alpha=0.35)
        if ax.has_data():
            top = max(ax.get_xlim()[1], ax.get_ylim()[1])
            ax.plot([0, top], [0, top], color="0.3", ls="--", lw=0.8, label="Σz = n (the target)")
            ax.legend(loc="upper left")
        ax.set_xlabel("training images n (Da ⊂ Db ⊂ Dc)")
        ax.set_ylabel("predicted mass Σz")
        ax.set_title(f"{f}: order (test violations {_fmt(c['order_violation_rate'], 2)})")
        for test in (True, False):
            errors = [err for _, err, t in c["triplets"] if t == test]
            pairs = [v for _, bad, t in c["chains"] if t == test for v in bad]
            rows_table.append([f, "test" if test else "train/validation", len(errors),
                               float(np.mean(errors)) if errors else np.nan, len(pairs) // 3,
                               float(np.mean(pairs)) if pairs else np.nan])
    fig.tight_layout()
    page.figure("reduce_additivity_order", fig, "Additivity (left: each triplet's union mass against the sum of its "
                "parts, one point per class in the class colours; outlined = test triplets) should follow the "
                "diagonal; order (right: each chain's mass against its size; red = test chains, dark overlay = a "
                "componentwise violation) should rise along every chain.")
    page.table(["family", "split", "triplets", "mean additivity rel. error", "chains", "order violation rate"], rows_table,
               caption=f"Additivity and order recomputed from the stored z (order tolerance {tolerance} of the larger "
                       "model's mass, as genzoo reduce); the test rows reproduce the embedding table's metrics.")


def dendrogram_figure(page, run):
    from scipy.cluster import hierarchy
    hierarchies = gr.hierarchies(run.reduce)
    families = [f for f in run.families if f in hierarchies]
    if not families:
        page.note("No dendrograms in reduce.h5.")
        return
    from matplotlib.patches import Patch
    fig, axes = plt.subplots(len(families), 1, figsize=(11, 3.3 * len(families)), squeeze=False)
    for ax, f in zip(axes[:, 0], families):
        Z, ids, _ = gr.linkage(run.reduce, f)
        d = hierarchy.dendrogram(Z, ax=ax, no_labels=True, color_threshold=0, above_threshold_color="0.35")
        leaves = np.asarray(d["leaves"])
        p = simplex.normalize(run.models["counts"][run.rows(ids[leaves])])
        # Under each leaf (scipy puts leaf i at x = 10 i + 5), its true class proportions as a stacked bar.
        strip = ax.inset_axes([0, -0.3, 1, 0.26], sharex=ax)
        bottom = np.zeros(len(leaves))
        for k in range(run.k):
            strip.bar(10 * np.arange(len(leaves)) + 5, p[:, k], width=10, bottom=bottom, color=class_colour(k),
                      linewidth=0)
            bottom += p[:, k]
        strip.set_ylim(0, 1)
        strip.set_yticks([0, 1])
        strip.set_ylabel("true p", fontsize=7)
        strip.tick_params(labelbottom=False, bottom=False)
        ax.set_title(f"{f}: {len(ids)} models, average linkage on the predicted shapes "
                     f"({hierarchies[f].get('feature', '?')})")
        ax.set_ylabel("shape distance")
    fig.legend([Patch(color=class_colour(k)) for k in range(run.k)], run.class_names, loc="upper right", ncol=run.k,
               frameon=False)
    fig.tight_layout(h_pad=4)
    page.figure("reduce_dendrogram", fig, "The hierarchy of models (dendrogram over predicted shapes) above each leaf's "
                "true class proportions (stacked bars): a good tree puts models with similar bars under one branch, "
                "i.e. it groups models by the data they were trained on.")


def theorem_figure(page, rows):
    fig, axes = plt.subplots(1, len(rows), figsize=(5.2 * len(rows), 3.4), squeeze=False)
    for ax, row in zip(axes[0], rows):
        m = np.asarray(row["m"], dtype=float)
        for name, label, colour in (("weight_closed", "(2) as stated", "tab:red"),
                                    ("weight_residual", "(2) on the d - k directions", "tab:orange"),
                                    ("singular_closed", "(3)", "tab:purple")):
            values = np.asarray(row[name], dtype=float)
            shown = np.isfinite(values) & (values > 0)
            ax.scatter(m[shown], values[shown], s=6, color=colour, label=label)
        ax.axhline(row["subset_closed"], color="tab:brown", lw=1, label="(1) n p H(x)")
        for key, label, style in (("s_ksg", "I(X1; s) KSG", "-"), ("s_flow", "I(X1; s) flow", "--"),
                                  ("p_ksg", "I(X1; W2W1) KSG", ":")):
            if np.isfinite(row[key]) and row[key] > 0:
                ax.axhline(row[key], color="k", lw=1, ls=style, label=f"{label} {row[key]:.2f}")
        ax.set_yscale("log")
        ax.set_xlabel("m, the model's subset size")
        ax.set_ylabel("nats")
        ax.set_title(f"{row['family']}: d = {row['dimension']}, k = {row['code']}, n = {row['pool']}, "
                     f"p = {row['inclusion']:g}", fontsize=9)
        ax.legend(fontsize=6)
    fig.tight_layout()
    page.figure("theorem", fig, "Seed 000's closed forms on every model of the zoo (dots; (1) is one value for the "
                "zoo) against the mutual information estimated over the zoo (black lines: how much a model's singular "
                "values s or reconstruction map W2 W1 tell about its subset X1). The closed forms grow with m and lie "
                "orders of magnitude above the estimates; (2) is infinite for a converged autoencoder "
                "(bench/RESULTS.md, \"Seed 000's theorem\").")


ESTIMATOR_ORDER = ("ksg", "ksg_pca", "ksg_autoencoder", "flow")


def information_figure(page, run):
    rows = gr.information(run.reduce)
    if not rows:
        page.note("No mutual-information estimates in reduce.h5.")
        return
    families = sorted({r["family"] for r in rows}, key=lambda f: (FAMILY_ORDER + (f,)).index(f))
    features = sorted({r["feature"] for r in rows})
    # Files before issue 15 hold only mi_nats (KSG on the principal components).
    def estimates(row):
        names = [e for e in str(row.get("estimators", "")).split("; ") if e] or ["ksg_pca"]
        return {e: row.get(f"mi_{e}_nats", row["mi_nats"]) for e in names}
    estimators = [e for e in ESTIMATOR_ORDER if any(e in estimates(r) for r in rows)]
    columns = min(2, len(families))
    grid_rows = (len(families) + columns - 1) // columns
    fig, axes = plt.subplots(grid_rows, columns, figsize=(0.8 + columns * (0.5 + 0.6 * len(features)), 0.4 + 2.6 * grid_rows),
                             sharey=True, squeeze=False)
    for ax in axes.flat[len(families):]:
        ax.set_visible(False)
    width = 0.8 / len(estimators)
    colours = plt.get_cmap("tab10")
    for ax, family in zip(axes.flat, families):
        for i, e in enumerate(estimators):
            values = [next((estimates(r).get(e, np.nan) for r in rows if r["family"] == family and r["feature"] == ft), np.nan)
                      for ft in features]
            ax.bar(np.arange(len(features)) + (i - (len(estimators) - 1) / 2) * width, values, width=width,
                   color=colours(i), label=e)
        models = max((r["models"] for r in rows if r["family"] == family), default=0)
        ax.set_title(f"{family} ({models} models)", fontsize=9)
        ax.set_xticks(np.arange(len(features)))
        ax.set_xticklabels(features, rotation=30, ha="right", fontsize=8)
        ax.axhline(0, color="k", lw=0.6)
    for row in axes:
        row[0].set_ylabel("I(proportions; features) [nats]", fontsize=8)
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    page.figure("reduce_information", fig, "Estimated mutual information between the class proportions and each "
                "vectorization, by estimator: KSG on the standardized features (ksg), on their principal components "
                "(ksg_pca), on an autoencoder's codes (ksg_autoencoder), and the normalizing-flow estimator of seed 002 "
                "(flow; only with at least 10 models per coordinate). A higher bar keeps more of what the model was "
                "trained on. k-NN estimates fall in high dimension (ksg below ksg_pca); on Gaussians of known MI the "
                "flow estimate is the closest at high MI (bench/RESULTS.md, \"Information\").")


# ---------------------------------------------------------------------------------------------------------------
# Distillation


def distill_part(page, run):
    path = run.distill
    a = gd.attributes(path)
    r = gd.results(path)
    page.section("distill", "Distillation", f"distill.h5: {len(r['test_loss'])} students of "
                 f"{len(set(r['student']))} structures on {len(gd.mixtures(path))} held-out mixtures, "
                 f"sizes n = {', '.join(str(n) for n in sorted(set(r['n'].tolist())))} "
                 f"(job {html.escape(str(a.get('job_name')))}).")
    with page.guard("test loss against n per method"):
        fig = gd.plot_test_loss(path, os.path.join(page.out_dir, "distill_test_loss.png"))
        plt.close(fig)
        page.figure_file("distill_test_loss", "Students' test loss against the number of training images n, one line "
                         "per method (mean ± sd over mixtures and seeds): lines below scratch's show what the zoo's "
                         "prior buys, and the gap should close as n grows.")
    with page.guard("distillation table"):
        rows = gd.summary(path)
        page.table(["student", "n", "method", "mean test loss", "sd", "runs", "vs scratch"],
                   [[s["student"], s["n"], s["method"], s["mean"], s["sd"], s["count"],
                     "–" if s["vs_scratch"] is None else f"{100 * s['vs_scratch']:+.1f} %"] for s in rows],
                   caption="Mean test loss per student, n and method; vs scratch: relative change of the mean.")


# ---------------------------------------------------------------------------------------------------------------
# Kohonen map


def _layer_stats(W, layout):
    """Per parameter tensor: mean, std, min, q25, median, q75, max of each row of W [N, P] (reduce's layer_stats)."""
    columns = []
    for _name, _role, shape, offset in layout:
        size = int(np.prod(shape, dtype=np.int64))
        block = W[:, offset:offset + size].astype(np.float64)
        q = np.percentile(block, [0, 25, 50, 75, 100], axis=1).T
        columns.append(np.column_stack([block.mean(axis=1), block.std(axis=1), q]))
    return np.hstack(columns)


def zoo_vectorization(run, feature="layer_stats"):
    """(model_ids, X, source) for the map: each family's rows of `feature` from reduce.h5 (else layer_stats computed
    from zoo.h5's weights), standardized per family and placed in that family's own columns (a block layout: the
    families' features measure different tensors, so they share no column)."""
    blocks = []
    source = None
    if run.reduce and feature in gr.vectorizations(run.reduce):
        source = f"reduce.h5 /features/{feature}"
        for f in gr.families(run.reduce, feature):
            ids, X = gr.features(run.reduce, feature, f)
            blocks.append((f, ids, X))
    elif run.zoo:
        source = "layer_stats of zoo.h5's weights (computed here)"
        for f in gz.families(run.zoo):
            ids, W = gz.family_weights(run.zoo, f)
            blocks.append((f, ids, _layer_stats(W, gz.layout(run.zoo, f))))
    if not blocks:
        raise ValueError("no vectorization for the map")
    ok = run.models["status"] == "ok"
    kept = []
    for f, ids, X in blocks:
        rows = run.rows(ids)
        good = ok[rows] & np.all(np.isfinite(X), axis=1)
        if good.sum() >= 2:
            kept.append((f, ids[good], som.standardize(X[good])[0]))
    width = sum(X.shape[1] for _, _, X in kept)
    total = sum(len(ids) for _, ids, _ in kept)
    out = np.zeros((total, width))
    all_ids = np.zeros(total, dtype=np.int64)
    r = c = 0
    for _, ids, X in kept:
        # Each family's block scaled to unit mean squared norm per row, so that no family's width dominates.
        out[r:r + len(ids), c:c + X.shape[1]] = X / np.sqrt(max(X.shape[1], 1))
        all_ids[r:r + len(ids)] = ids
        r += len(ids)
        c += X.shape[1]
    return all_ids, out, source


def _within_family_rank(values, families):
    """Each value's percentile within its family (0 = lowest test loss of its family, 1 = highest)."""
    out = np.full(len(values), np.nan)
    for f in set(families):
        sel = np.flatnonzero((families == f) & np.isfinite(values))
        if len(sel) == 1:
            out[sel] = 0.5
        elif len(sel) > 1:
            out[sel] = np.argsort(np.argsort(values[sel])) / (len(sel) - 1)
    return out


def _plane(ax, fig, values, title, cmap="viridis", vmin=None, vmax=None, label=None):
    image = np.ma.masked_invalid(values)
    cmap = plt.get_cmap(cmap).copy()
    cmap.set_bad("0.92")
    im = ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    cb = fig.colorbar(im, ax=ax, shrink=0.8, pad=0.02)
    if label:
        cb.set_label(label, fontsize=7)
    return im


def som_part(page, run, feature="layer_stats", seed=0):
    page.section("som", "Kohonen map of the zoo", "A self-organizing map (seed 003: SG with hard competition for the "
                 "winner, soft competition for its neighbourhood, a neighbourhood and step that shrink) trained on one "
                 "vectorization of every ok model; each unit is a prototype model, neighbouring units are similar "
                 "models. Grey units win no model.")
    if run.models is None:
        page.note("No zoo.h5 in the run: the map needs the models' table and is skipped.")
        return
    with page.guard("Kohonen map"):
        start = time.perf_counter()
        ids, X, source = zoo_vectorization(run, feature)
        if len(ids) < 4:
            page.note(f"Only {len(ids)} models with a finite vectorization: no map.")
            return
        m = som.train(X, seed=seed)
        seconds = time.perf_counter() - start
        bmus = m.bmu(X)
        qe, te = m.quantization_error(X), m.topographic_error(X)
        rows = run.rows(ids)
        fam = run.models["family"][rows]
        hits = m.hits(X)

        fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), gridspec_kw={"width_ratios": [1, 1, 1.1]})
        _plane(axes[0], fig, m.u_matrix(), "U-matrix", cmap="bone_r", label="mean distance to grid neighbours")
        _plane(axes[1], fig, np.where(hits > 0, hits, np.nan), "hits", cmap="Blues", label="models per unit")
        steps, q = m.history[:, 0], m.history[:, 1]
        axes[2].plot(steps, q, color="tab:blue")
        axes[2].set_yscale("log")
        axes[2].set_xlabel("objects presented")
        axes[2].set_ylabel("running criterion Q (mean ‖x − w_winner‖²)")
        axes[2].set_title(f"training: QE {qe:.3f}, TE {te:.3f}")
        fig.tight_layout()
        page.figure("som_umatrix", fig, "U-matrix (left; dark ridges = large jumps between neighbouring prototypes, i.e. "
                    "cluster borders), hits per unit (middle) and the running quantization criterion during training "
                    "(right; it should fall and flatten as the neighbourhood shrinks).")

        props = simplex.normalize(run.models["counts"][rows])
        planes = [(props[:, k], f"share of {run.class_names[k]}", "viridis", 0, 1, "mean class share") for k in range(run.k)]
        loss_rank = _within_family_rank(run.models["test_loss"][rows], fam)
        planes.append((loss_rank, "test loss (rank within family)", "magma", 0, 1, "0 = family's best, 1 = worst"))
        n = len(planes) + 1
        cols = min(n, 3)
        fig, axes = plt.subplots(-(-n // cols), cols, figsize=(4.0 * cols, 3.3 * -(-n // cols)), squeeze=False)
        flat = axes.ravel()
        majority, names = m.unit_majority(X, fam, bmus)
        colours = [family_colour(f) for f in names]
        rgb = np.ones(majority.shape + (3,)) * 0.92
        for i, colour in enumerate(colours):
            rgb[majority == i] = mcolors.to_rgb(colour)
        flat[0].imshow(rgb, interpolation="nearest")
        flat[0].set_title("family (majority per unit)")
        flat[0].set_xticks([])
        flat[0].set_yticks([])
        from matplotlib.patches import Patch
        flat[0].legend([Patch(color=c) for c in colours], names, fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1))
        for ax, (values, title, cmap, vmin, vmax, label) in zip(flat[1:], planes):
            _plane(ax, fig, m.unit_mean(X, values, bmus), title, cmap=cmap, vmin=vmin, vmax=vmax, label=label)
        for ax in flat[n:]:
            ax.set_axis_off()
        fig.tight_layout()
        page.figure("som_planes", fig, "The map coloured by each unit's models: family, the mean share of each class "
                    "and the test loss ranked within the family; smooth colour gradients inside a family's region mean "
                    "the weights order the models by their training mixture; a family split into several regions "
                    "differs as much within itself as from the other families in this vectorization.")
        s = m.settings
        page.table(["map", "models", "vectorization", "dims", "steps", "η", "σ (grid units)", "init",
                    "quantization error", "topographic error", "seconds"],
                   [[f"{m.rows} x {m.cols}", len(ids), source, X.shape[1], s["steps"],
                     f"{s['eta'][0]:g} → {s['eta'][1]:g}", f"{s['sigma'][0]:g} → {s['sigma'][1]:g}", s["init"], qe, te,
                     seconds]],
                   caption="Quantization error: mean distance of a model's (standardized) vector to its unit; "
                           "topographic error: share of models whose two nearest units are not grid neighbours (0 = no "
                           "folds). Each family's features are standardized and sit in their own columns (they measure "
                           "different tensors), so models of different families never share a nonzero feature.")


# ---------------------------------------------------------------------------------------------------------------
# Entry points


def write_report(run_dir, out_dir=None, strict=False, quiet=False, som_feature="layer_stats"):
    """Writes the report of run_dir into out_dir (default RUN/report); returns (path of index.html, [parts that
    failed, as "what: error"]). strict: raise at the first failing part instead."""
    start = time.perf_counter()
    run = Run(run_dir)
    out_dir = out_dir or os.path.join(run_dir, "report")
    os.makedirs(out_dir, exist_ok=True)
    for name in os.listdir(out_dir):  # figures of an earlier report that this run may no longer have
        if name.endswith(".png"):
            os.remove(os.path.join(out_dir, name))
    page = Page(out_dir, strict=strict, quiet=quiet)
    if run.models is not None:
        zoo_part(page, run)
        generative_part(page, run)
    if run.reduce:
        reduce_part(page, run)
    if run.distill:
        distill_part(page, run)
    som_part(page, run, som_feature)
    missing = [name for name, path in (("zoo.h5", run.zoo), ("reduce.h5", run.reduce), ("distill.h5", run.distill))
               if not path]
    a = run.attrs
    header = (f"<p class='meta'>job <b>{html.escape(str(a.get('job_name', '?')))}</b> · genzoo "
              f"{html.escape(str(a.get('genzoo_version', '?')))} · created {html.escape(str(a.get('created_utc', '?')))}"
              f" · classes {html.escape(', '.join(f'{c} {n}' for c, n in zip(run.classes, run.class_names)))}"
              f" · run {html.escape(os.path.abspath(run_dir))}</p>")
    if missing:
        header += (f"<p class='note'>Not in this run: {html.escape(', '.join(missing))} "
                   "(genzoo reduce RUN/zoo.h5 and genzoo distill RUN/zoo.h5 write them); their parts are left out.</p>")
    if page.errors:
        header += ("<p class='note'>Parts that failed: " + html.escape("; ".join(page.errors)) + "</p>")
    seconds = time.perf_counter() - start
    footer = (f"Written by genzoo_analysis.report in {seconds:.1f} s ({page.figures} figures) on "
              f"{time.strftime('%Y-%m-%d %H:%M:%S')}.")
    path = page.write(f"genzoo run report: {a.get('job_name', os.path.basename(os.path.abspath(run_dir)))}", header,
                      footer)
    if not quiet:
        slow = sorted(page.timings, key=lambda t: -t[1])[:3]
        print(f"wrote {path}: {page.figures} figures in {seconds:.1f} s (slowest: "
              + ", ".join(f"{w} {s:.1f} s" for w, s in slow) + ")", file=sys.stderr)
    return path, page.errors


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m genzoo_analysis.report",
                                     description="Write RUN/report/index.html: figures and tables of a genzoo run "
                                                 "(zoo.h5, reduce.h5, distill.h5, whichever it holds) and a Kohonen "
                                                 "map of the zoo.")
    parser.add_argument("run", help="run directory (with zoo.h5 and, when present, reduce.h5 and distill.h5)")
    parser.add_argument("--out", help="output directory (default: RUN/report)")
    parser.add_argument("--som-feature", default="layer_stats",
                        help="reduce.h5 vectorization the Kohonen map is trained on (default layer_stats)")
    parser.add_argument("--strict", action="store_true", help="fail (exit 1) when any part of the report fails")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    args = parser.parse_args(argv)
    try:
        path, errors = write_report(args.run, args.out, strict=args.strict, quiet=args.quiet, som_feature=args.som_feature)
    except (OSError, ValueError, KeyError) as e:
        print(f"genzoo_analysis.report: error: {e.args[0] if isinstance(e, KeyError) and e.args else e}", file=sys.stderr)
        return 1
    if errors:
        print(f"genzoo_analysis.report: {len(errors)} part(s) failed; see {path}", file=sys.stderr)
        return 1 if args.strict else 0
    if args.quiet:
        return 0
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
