"""Read genzoo reduce files (reduce.h5, written by `genzoo reduce RUN/zoo.h5`) with numpy and h5py
alone (dendrogram() also uses scipy, and matplotlib when it is installed).

The schema is described in DESIGN.md section 6 and src/reduce/reduce_file.h. Typical use:

    from genzoo_analysis import reduce as gr         # or, as before, `import genzoo_reduce as gr`
    gr.vectorizations("run/reduce.h5")                   # ["hist", "latent_mean", "layer_stats", "svd"]
    gr.families("run/reduce.h5")                         # ["conv_ae", "linear_ae"]
    ids, X = gr.features("run/reduce.h5", "svd", "linear_ae")   # X [N, dim], rows aligned with ids
    rows = gr.probe_scores("run/reduce.h5")              # [{"family", "feature", "classifier", "precision", ...}]
    sweep = gr.gap_sweep("run/reduce.h5", "linear_ae", "svd")   # {"gap", "precision", "recall"} arrays
    e = gr.embedding("run/reduce.h5", "linear_ae")       # selected feature: model_id, z, u [N, K], split, metrics
    Z, leaf_ids, members = gr.linkage("run/reduce.h5", "linear_ae")   # scipy linkage matrix [N-1, 4]
    d = gr.dendrogram("run/reduce.h5", "linear_ae")      # draws with matplotlib if installed, else no_plot data
    mi = gr.information("run/reduce.h5")                 # [{"family", "feature", "mi_nats", ...}]
    gr.priors("run/reduce.h5", "linear_ae")              # [{"name": "root-g0", "kind": "node", "members": n, ...}]
    p = gr.prior("run/reduce.h5", "linear_ae", "root-g0", student="latent=8")  # mean, diag, factor, layout, steps
    w = gr.sample_prior(p, 5, np.random.default_rng(0))  # [5, P] weights drawn from N(m, D + F Fᵀ)
    tensors = gr.unflatten(w[0], p["layout"])            # {"encoder.weight": [8, 784], ...}
    gr.prior_log_density(p, w)                           # log N(w | m, Σ) by Woodbury, [5]
    gr.prior_check("run/reduce.h5", "linear_ae")         # held-out log densities: node, root, isotropic

From the shell, `python3 analysis/genzoo_reduce.py run/reduce.h5` (or, with PYTHONPATH=analysis,
`python3 -m genzoo_analysis.reduce run/reduce.h5`) prints a summary.
Unknown families, features or classifiers raise KeyError naming what the file has; a file that is not a
reduce file, or of another schema_version, raises ValueError.
"""

import sys

import numpy as np

from ._h5 import attrs as _attrs, layout as _layout_rows, open_checked, strings as _strings, value as _value
from ._h5 import unflatten as _unflatten_rows

SCHEMA_VERSION = 1
KIND = "reduce"
# /embedding/<family>/<feature>/split values.
SPLIT_ROLES = ("train", "validation", "test")


def _open(path):
    return open_checked(path, SCHEMA_VERSION, KIND, "`genzoo reduce RUN/zoo.h5` writes RUN/reduce.h5")


def _child(group, name, what):
    if name not in group:
        raise KeyError(f"no {what} {name!r} in {group.file.filename}:{group.name} (it has: {', '.join(group) or 'none'})")
    return group[name]


def attributes(path):
    """The root attributes: schema_version, genzoo_version, created_utc, zoo_path, job_name, classes, ..."""
    with _open(path) as f:
        return _attrs(f)


def vectorizations(path):
    """Names of the stored vectorizations (/features/<name>), sorted."""
    with _open(path) as f:
        return sorted(f["features"])


def families(path, name=None):
    """Families with feature rows (in vectorization `name`, or in any), sorted."""
    with _open(path) as f:
        groups = [_child(f["features"], name, "vectorization")] if name is not None else f["features"].values()
        return sorted({str(family) for group in groups for family in _strings(group["family"])})


def features(path, name, family=None):
    """(model_ids [N], matrix [N, dim]) of vectorization `name`.

    With a family: its rows only and its own dim columns (feature sets compare only within a family).
    Without: every row as stored, zero-padded to the widest family (see families(path, name)).
    """
    with _open(path) as f:
        group = _child(f["features"], name, "vectorization")
        ids, data = group["model_id"][()], group["data"]
        if family is None:
            return ids, data[()]
        rows = np.flatnonzero(_strings(group["family"]) == family)
        if rows.size == 0:
            raise KeyError(f"no family {family!r} in {path}:{group.name} (it has: {', '.join(families(path, name))})")
        dims = np.unique(group["dim"][()][rows])
        if dims.size != 1 or dims[0] > data.shape[1]:
            raise ValueError(f"{path}:{group.name}: rows of family {family} have dims {dims.tolist()}")
        return ids[rows], data[()][rows, :int(dims[0])]


def feature_description(path, name):
    """The description attribute of a vectorization (what its columns are)."""
    with _open(path) as f:
        return _value(_child(f["features"], name, "vectorization").attrs["description"])


def probe_scores(path):
    """Dataset-identification probe, one dict per (family, feature, classifier), sorted by those.

    Keys: family, feature, classifier, precision, recall, accuracy (k-fold cross-validated; positive is
    dataset B), folds, models_a, models_b, gaps (length of the gap sweep, 0 without one) and best
    (whether it is the family/feature's best classifier by F1, whose scores the feature group repeats).
    """
    rows = []
    with _open(path) as f:
        for family, family_group in sorted(f["probe"].items()):
            for feature, feature_group in sorted(family_group.items()):
                best = _value(feature_group.attrs.get("best_classifier"))
                for classifier, group in sorted(feature_group.items()):
                    row = {"family": family, "feature": feature, "classifier": classifier}
                    row.update(_attrs(group))
                    row["gaps"] = int(group["gap"].shape[0])
                    row["best"] = classifier == best
                    rows.append(row)
    return rows


def gap_sweep(path, family, feature, classifier=None):
    """The harder probe variant: {"gap", "precision", "recall"} arrays [G], dataset A versus B at each
    proportion gap (empty arrays when the job had no sweep). classifier defaults to the best one."""
    with _open(path) as f:
        feature_group = _child(_child(f["probe"], family, "probed family"), feature, "probed feature")
        if classifier is None:
            classifier = _value(feature_group.attrs["best_classifier"])
        group = _child(feature_group, classifier, "classifier")
        return {"classifier": classifier, "gap": group["gap"][()], "precision": group["gap_precision"][()],
                "recall": group["gap_recall"][()]}


def not_embedded(path):
    """family -> why it has no embedding (too few models for the split)."""
    with _open(path) as f:
        return {family: _value(group.attrs["not_embedded"])
                for family, group in sorted(f["embedding"].items()) if "not_embedded" in group.attrs}


def selected_feature(path, family):
    """The feature whose embedding has the lowest validation angular error (the hierarchy's feature)."""
    with _open(path) as f:
        group = _child(f["embedding"], family, "family")
        if "selected_feature" not in group.attrs:
            why = _value(group.attrs.get("not_embedded", "no selected_feature attribute"))
            raise ValueError(f"{path}: family {family} is not embedded: {why}")
        return _value(group.attrs["selected_feature"])


def embedding_features(path, family):
    """The features family was embedded from (sorted; empty when it was not embedded)."""
    with _open(path) as f:
        return sorted(_child(f["embedding"], family, "family"))


def embedding(path, family, feature=None):
    """One embedding of a family: model_id [N], z [N, K] (mass vectors), u [N, K] (shapes, unit rows),
    split [N] (0 train, 1 validation, 2 test; SPLIT_ROLES) and the metric attributes on the test models
    (angular_error_deg, hellinger_spearman, additivity_rel_error, order_violation_rate, cophenetic_corr,
    validation_angular_error_deg, test_models, ...; NaN where undefined). feature defaults to the
    selected one; family and feature are in the dict too."""
    if feature is None:
        feature = selected_feature(path, family)
    with _open(path) as f:
        family_group = _child(f["embedding"], family, "family")
        if len(family_group) == 0 and "not_embedded" in family_group.attrs:
            raise ValueError(f"{path}: family {family} is not embedded: {_value(family_group.attrs['not_embedded'])}")
        group = _child(family_group, feature, "embedded feature")
        result = {"family": family, "feature": feature}
        result.update(_attrs(group))
        for name in ("model_id", "z", "u", "split"):
            result[name] = group[name][()]
        return result


def embedding_metrics(path):
    """Metric attributes of every embedding, one dict per (family, feature) with selected = whether it
    is the family's selected feature."""
    rows = []
    with _open(path) as f:
        for family, family_group in sorted(f["embedding"].items()):
            selected = _value(family_group.attrs.get("selected_feature"))
            for feature, group in sorted(family_group.items()):
                row = {"family": family, "feature": feature, "selected": feature == selected}
                row.update(_attrs(group))
                rows.append(row)
    return rows


def linkage(path, family):
    """(Z, model_ids, members) of a family's dendrogram (average linkage on the selected feature's shapes).

    Z is scipy's linkage matrix [N-1, 4] (scipy.cluster.hierarchy.dendrogram(Z) draws it); leaf i is
    model model_ids[i]; members[i] holds the model ids under the cluster formed in row i (cluster N + i).
    """
    with _open(path) as f:
        group = f["hierarchy"].get(family)
        if group is None:
            reason = _value(f["embedding"][family].attrs.get("not_embedded", "")) if family in f["embedding"] else ""
            raise KeyError(f"no hierarchy for family {family!r} in {path} (it has: {', '.join(f['hierarchy']) or 'none'})"
                           + (f"; {family} is not embedded: {reason}" if reason else ""))
        Z, ids = group["linkage"][()], group["model_id"][()]
        offsets, flat = group["member_offsets"][()], group["members"][()]
        if Z.shape != (len(ids) - 1, 4) or offsets.shape != (len(ids),) or offsets[-1] != len(flat):
            raise ValueError(f"{path}:{group.name}: linkage {Z.shape}, {len(ids)} leaves, member_offsets "
                             f"{offsets.shape} ending at {offsets[-1] if len(offsets) else None} of {len(flat)} members")
        members = [flat[offsets[i]:offsets[i + 1]] for i in range(len(ids) - 1)]
        return Z, ids, members


def hierarchies(path):
    """family -> attributes of its dendrogram (feature: the embedding it was built on, method)."""
    with _open(path) as f:
        return {family: _attrs(group) for family, group in sorted(f["hierarchy"].items())} if "hierarchy" in f else {}


def dendrogram(path, family, plot=None, ax=None, **kwargs):
    """scipy.cluster.hierarchy.dendrogram of a family's hierarchy, leaves labelled by model id.

    plot=None draws when matplotlib is installed (on ax, else the current axes) and otherwise only
    computes the layout (no_plot=True); plot=False never draws; plot=True requires matplotlib.
    Returns scipy's dict (ivl: leaf labels left to right, icoord/dcoord: the links, ...).
    Extra keyword arguments go to scipy's dendrogram.
    """
    from scipy.cluster import hierarchy

    Z, ids, _ = linkage(path, family)
    kwargs.setdefault("labels", [str(i) for i in ids])
    if plot is not False:
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            if plot:
                raise ImportError("genzoo_reduce.dendrogram(plot=True) needs matplotlib, which is not installed")
        else:
            return hierarchy.dendrogram(Z, ax=ax if ax is not None else plt.gca(), **kwargs)
    return hierarchy.dendrogram(Z, no_plot=True, **kwargs)


def information(path):
    """Estimated mutual information between class proportions and each vectorization: one dict per
    (family, feature) with mi_nats (KSG on the principal components), k (neighbours), models, components,
    estimators ("; "-separated) and mi_<estimator>_nats per estimator run (ksg, ksg_pca, ksg_autoencoder,
    flow), mi_flow_heldout_nats and autoencoder_mse when those ran."""
    rows = []
    with _open(path) as f:
        for family, family_group in sorted(f["information"].items()):
            for feature, group in sorted(family_group.items()):
                row = {"family": family, "feature": feature}
                row.update(_attrs(group))
                rows.append(row)
    return rows


def theorem(path):
    """Seed 000's theorem on a gaussian-source zoo (/theorem/<family>): one dict per family with the arrays
    model_id, m, weight_closed, weight_residual, singular_closed (closed forms (2), its d - k part, (3) per
    model) and the attributes subset_closed ((1)), s_ksg, s_flow, p_ksg, p_flow (I(X1; s), I(X1; W2 W1) over
    the zoo, nats; flow NaN with too few models), pool, inclusion, dimension, code. Empty for image zoos."""
    rows = []
    with _open(path) as f:
        if "theorem" not in f:
            return rows
        for family, group in sorted(f["theorem"].items()):
            row = {"family": family}
            row.update(_attrs(group))
            for name in ("model_id", "m", "weight_closed", "weight_residual", "singular_closed"):
                row[name] = group[name][()]
            rows.append(row)
    return rows


def _layout(group):
    """[(name, role, shape, offset)] from a group's layout subgroup (the zoo's format)."""
    return _layout_rows(group["layout"])


def priors(path, family=None):
    """The stored priors, one dict per prior: family, name, kind (node | swag | laplace), cluster, init_group,
    model_id, members, rank, size (P), students (aligned structures)."""
    with _open(path) as f:
        if "priors" not in f:
            return []
        rows = []
        for fam in ([family] if family else list(f["priors"])):
            group = _child(f["priors"], fam, "family with priors")
            for name, prior in group.items():
                if name == "check":
                    continue
                a = _attrs(prior)
                rows.append({"family": fam, "name": name, "kind": a["kind"], "cluster": a["cluster"],
                             "init_group": a["init_group"], "model_id": a["model_id"],
                             "members": int(prior["member_ids"].shape[0]), "rank": int(prior["factor"].shape[1]),
                             "size": int(prior["mean"].shape[0]),
                             "students": sorted(prior["aligned"]) if "aligned" in prior else []})
        return rows


def prior(path, family, name, student=None):
    """One prior N(mean, diag(diag) + factor factorᵀ) over the flattened weights: mean [P], diag [P],
    factor [P, r] (float64), layout [(name, role, shape, offset)], member_ids, proportions, shape and its
    attributes. student: the aligned prior for that structure (e.g. "latent=8"), in the student's layout,
    with its order and φ/ψ steps."""
    with _open(path) as f:
        group = _child(_child(_child(f, "priors", "group"), family, "family with priors"), name, "prior")
        out = {"member_ids": group["member_ids"][()], "proportions": group["proportions"][()],
               "shape": group["shape"][()], **_attrs(group)}
        if student is not None:
            group = _child(_child(group, "aligned", "group"), student, "student")
            out.update(_attrs(group))
            out["steps"] = [step for step in out["steps"].split("; ") if step]
        out.update({"mean": group["mean"][()].astype(np.float64), "diag": group["diag"][()].astype(np.float64),
                    "factor": group["factor"][()].astype(np.float64), "layout": _layout(group)})
        out.pop("layout_json", None)
        return out


def sample_prior(p, n, rng=None):
    """n weight vectors [n, P] from N(m, D + F Fᵀ): m + sqrt(D) ε + F η with ε ~ N(0, I_P), η ~ N(0, I_r)."""
    rng = np.random.default_rng() if rng is None else rng
    size, rank = p["factor"].shape
    return (p["mean"] + np.sqrt(p["diag"]) * rng.standard_normal((n, size))
            + rng.standard_normal((n, rank)) @ p["factor"].T)


def unflatten(flat, layout):
    """One flat weight vector as the model's named tensors (numpy views)."""
    return _unflatten_rows(flat, layout)


def prior_log_density(p, x):
    """log N(x | m, D + F Fᵀ) for rows x [n, P] (or one [P]), by Woodbury and the determinant lemma
    (r x r solves, never a P x P matrix)."""
    x = np.atleast_2d(x)
    d, f = p["diag"], p["factor"]
    delta = x - p["mean"]
    capacitance = np.eye(f.shape[1]) + f.T @ (f / d[:, None])
    u = (delta / d) @ f
    quadratic = np.einsum("ij,ij->i", delta, delta / d) - np.einsum("ij,ij->i", u, np.linalg.solve(capacitance, u.T).T)
    log_det = np.log(d).sum() + np.linalg.slogdet(capacitance)[1]
    return -0.5 * (quadratic + log_det + d.size * np.log(2 * np.pi))


def prior_check(path, family):
    """Held-out models' log densities under their node's prior, the root's and N(m, σ² I) of the same
    total variance: {"model_id", "node", "log_node", "log_root", "log_isotropic"} arrays."""
    with _open(path) as f:
        group = _child(_child(_child(f, "priors", "group"), family, "family with priors"), "check", "group")
        return {"model_id": group["model_id"][()], "node": _strings(group["node"]), "log_node": group["log_node"][()],
                "log_root": group["log_root"][()], "log_isotropic": group["log_isotropic"][()]}


def _number(value, digits=3):
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def summary(path):
    """A short text summary: source, families, vectorizations, best probe scores, embeddings, MI."""
    a = attributes(path)
    lines = [f"{path}: reduce of {a.get('zoo_path')} (job {a.get('job_name')}, genzoo {a.get('genzoo_version')}, "
             f"created {a.get('created_utc')}), classes {list(np.atleast_1d(a.get('classes', [])))}"]
    lines.append("families: " + ", ".join(families(path)))
    lines.append("vectorizations:")
    for name in vectorizations(path):
        shapes = []
        for family in families(path, name):
            ids, X = features(path, name, family)
            shapes.append(f"{family} {X.shape[0]}x{X.shape[1]}")
        lines.append(f"  {name:<12} " + ", ".join(shapes))
    lines.append("probe (best classifier per family/feature; precision, recall, recall by gap):")
    best = [row for row in probe_scores(path) if row["best"]]
    for row in best:
        sweep = gap_sweep(path, row["family"], row["feature"], row["classifier"])
        by_gap = "".join(f"  {g:.2f}:{r:.2f}" for g, r in zip(sweep["gap"], sweep["recall"]))
        lines.append(f"  {row['family']:<10} {row['feature']:<12} {row['classifier']:<9} "
                     f"{_number(row['precision'])} {_number(row['recall'])}{by_gap}")
    if not best:
        lines.append("  (none)")
    lines.append("embedding (selected feature per family; test angular error in degrees, cophenetic correlation):")
    for row in embedding_metrics(path):
        if row["selected"]:
            lines.append(f"  {row['family']:<10} {row['feature']:<12} angle {_number(row['angular_error_deg'], 2)}  "
                         f"cophenetic {_number(row['cophenetic_corr'])}  ({row['test_models']} test models)")
    for family, why in not_embedded(path).items():
        lines.append(f"  {family:<10} not embedded: {why}")
    lines.append("hierarchy:")
    for family in hierarchies(path):
        Z, ids, _ = linkage(path, family)
        lines.append(f"  {family:<10} {len(ids)} leaves, root height {_number(Z[-1, 2])}")
    for row in theorem(path):
        lines.append(f"seed 000's theorem, {row['family']} ({len(row['model_id'])} models, d = {row['dimension']}, "
                     f"k = {row['code']}): (1) {_number(row['subset_closed'], 1)}, (2) median "
                     f"{_number(float(np.median(row['weight_closed'])), 1)}, (3) median "
                     f"{_number(float(np.median(row['singular_closed'])), 1)}; over the zoo I(X1; s) KSG "
                     f"{_number(row['s_ksg'])}, flow {_number(row['s_flow'])}")
    lines.append("mutual information (nats):")
    for row in information(path):
        others = "".join(f"  {e} {_number(row[f'mi_{e}_nats'])}" for e in str(row.get("estimators", "")).split("; ")
                         if e and e != "ksg_pca")
        lines.append(f"  {row['family']:<10} {row['feature']:<12} {_number(row['mi_nats'])}{others}")
    rows = priors(path)
    if rows:
        lines.append("priors:")
        for fam in sorted({row["family"] for row in rows}):
            mine = [row for row in rows if row["family"] == fam]
            kinds = {}
            for row in mine:
                kinds[row["kind"]] = kinds.get(row["kind"], 0) + 1
            students = sorted({s for row in mine for s in row["students"]})
            lines.append(f"  {fam:<10} " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
                         + (f"; aligned to {', '.join(students)}" if students else ""))
    return "\n".join(lines)


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print("usage: genzoo_reduce.py RUN/reduce.h5   (prints a summary)", file=sys.stderr)
        return 2
    try:
        print(summary(argv[1]))
    except (OSError, ValueError, KeyError) as e:
        print(f"genzoo_reduce: error: {e.args[0] if isinstance(e, KeyError) and e.args else e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
