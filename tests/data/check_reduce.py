"""Exercises analysis/genzoo_reduce.py against raw h5py reads of a real reduce.h5 (tests/cli/reduce_command_test.cpp).

    check_reduce.py REDUCE ZOO ANALYSIS_DIR EMBEDDED_FAMILIES GAPS

EMBEDDED_FAMILIES and GAPS are comma-separated (possibly empty): the families that must have an
embedding, and the job's probe gap sweep.

Every reader function is compared with what h5py reads from the file itself, and checked for the
properties the schema promises (scores in [0, 1], unit shapes, a valid scipy linkage whose member lists
are the union of its children's, ids that are the zoo's models of that family). Families without an
embedding must be refused with the stored reason. Prints one summary line and exits non-zero (with the
reason) on the first mismatch.
"""

import os
import shutil
import sys
import tempfile

import h5py
import numpy as np
from scipy.cluster import hierarchy

try:
    import matplotlib  # noqa: F401  (plot=True draws when it is installed, raises ImportError when not)
    HAS_MATPLOTLIB = True
except ImportError:
    HAS_MATPLOTLIB = False

TOL = 1e-9  # the reader returns the stored values: anything above rounding is a bug


def fail(message):
    print("check_reduce: FAIL: " + message)
    sys.exit(1)


def expect(condition, message):
    if not condition:
        fail(message)


def expect_raises(kind, parts, call, what):
    try:
        call()
    except kind as e:
        text = str(e)
        for part in parts:
            expect(part in text, f"{what}: error {text!r} does not mention {part!r}")
        return
    fail(f"{what} did not raise {kind.__name__}")


def strings(dataset):
    return [str(s) for s in dataset.asstr()[()]]


def check_features(gr, path, r, zoo_family):
    names = sorted(r["features"])
    expect(gr.vectorizations(path) == names, f"vectorizations {gr.vectorizations(path)} != raw {names}")
    expect({"svd", "hist", "layer_stats", "latent_mean"} <= set(names), f"vectorizations {names}")
    all_families = set()
    checked = 0
    for name in names:
        g = r["features"][name]
        raw_ids, raw_data = g["model_id"][()], g["data"][()]
        raw_family, raw_dim = np.array(strings(g["family"])), g["dim"][()]
        fams = sorted(set(raw_family))
        all_families |= set(fams)
        expect(gr.families(path, name) == fams, f"families({name}) {gr.families(path, name)} != raw {fams}")
        ids, padded = gr.features(path, name)
        expect(np.array_equal(ids, raw_ids) and np.array_equal(padded, raw_data), f"features({name}) without family")
        covered = 0
        for fam in fams:
            rows = np.flatnonzero(raw_family == fam)
            dim = int(raw_dim[rows[0]])
            ids, X = gr.features(path, name, fam)
            expect(X.shape == (len(rows), dim) and dim > 0, f"features({name}, {fam}) shape {X.shape}, raw ({len(rows)}, {dim})")
            expect(np.array_equal(ids, raw_ids[rows]), f"features({name}, {fam}) ids {ids} != raw {raw_ids[rows]}")
            expect(np.array_equal(X, raw_data[rows, :dim]), f"features({name}, {fam}) values differ from the raw rows")
            expect(not np.any(raw_data[rows, dim:]), f"{name}/{fam}: padding columns are not zero")
            expect(np.all(np.isfinite(X)) and np.any(X), f"features({name}, {fam}) not finite or all zero")
            # The rows are really that family's models of the zoo, each once.
            expect(len(set(ids.tolist())) == len(ids), f"features({name}, {fam}) repeats a model id")
            for model_id in ids:
                expect(zoo_family.get(int(model_id)) == fam, f"{name}: model {model_id} is {zoo_family.get(int(model_id))} in the zoo, not {fam}")
            covered += len(rows)
            checked += 1
        expect(covered == len(raw_ids), f"{name}: families cover {covered} of {len(raw_ids)} rows")
    expect(gr.families(path) == sorted(all_families), f"families() {gr.families(path)}")
    expect(gr.feature_description(path, "svd") == r["features/svd"].attrs["description"], "feature_description(svd)")
    expect_raises(KeyError, ["pca", "svd"], lambda: gr.features(path, "pca"), "features(pca)")
    expect_raises(KeyError, ["vae"], lambda: gr.features(path, "svd", "vae"), "features(svd, vae)")
    return checked


def check_probe(gr, path, r, gaps):
    rows = gr.probe_scores(path)
    raw = [(fam, feat, cls) for fam in r["probe"] for feat in r["probe"][fam] for cls in r["probe"][fam][feat]]
    expect([(x["family"], x["feature"], x["classifier"]) for x in rows] == sorted(raw), f"probe_scores keys {rows}")
    expect(len(rows) > 0, "no probe rows")
    for x in rows:
        where = f"probe {x['family']}/{x['feature']}/{x['classifier']}"
        g = r["probe"][x["family"]][x["feature"]][x["classifier"]]
        for key in ("precision", "recall", "accuracy"):
            expect(0.0 <= x[key] <= 1.0, f"{where}: {key} {x[key]} outside [0, 1]")
            expect(isinstance(x[key], float) and abs(x[key] - float(g.attrs[key])) <= TOL, f"{where}: {key} {x[key]} != raw {g.attrs[key]}")
        for key in ("folds", "models_a", "models_b"):
            expect(x[key] == int(g.attrs[key]), f"{where}: {key} {x[key]} != raw {g.attrs[key]}")
        expect(x["folds"] >= 2 and x["models_a"] >= 2 and x["models_b"] >= 2, f"{where}: {x}")
        expect(x["gaps"] == g["gap"].shape[0], f"{where}: gaps {x['gaps']}")
        sweep = gr.gap_sweep(path, x["family"], x["feature"], x["classifier"])
        expect(np.array_equal(sweep["gap"], g["gap"][()]) and np.array_equal(sweep["recall"], g["gap_recall"][()])
               and np.array_equal(sweep["precision"], g["gap_precision"][()]), f"{where}: gap_sweep differs from raw")
        expect(np.all((sweep["recall"] >= 0) & (sweep["recall"] <= 1)), f"{where}: gap recall {sweep['recall']}")
    # One best classifier per family/feature; the feature group repeats its scores.
    for fam in r["probe"]:
        for feat, g in r["probe"][fam].items():
            best = [x for x in rows if x["family"] == fam and x["feature"] == feat and x["best"]]
            expect(len(best) == 1 and best[0]["classifier"] == g.attrs["best_classifier"], f"best of {fam}/{feat}: {best}")
            expect(abs(best[0]["precision"] - g.attrs["precision"]) <= TOL and abs(best[0]["recall"] - g.attrs["recall"]) <= TOL,
                   f"best of {fam}/{feat} differs from the feature group's attributes")
            expect(gr.gap_sweep(path, fam, feat)["classifier"] == g.attrs["best_classifier"], f"gap_sweep({fam}, {feat}) default")
    # linear_ae is probed with both classifiers, over the job's gap sweep.
    linear = [x for x in rows if x["family"] == "linear_ae" and x["feature"] == "svd"]
    expect(sorted(x["classifier"] for x in linear) == ["logistic", "mlp"], f"linear_ae/svd classifiers {linear}")
    for x in linear:
        sweep = gr.gap_sweep(path, "linear_ae", "svd", x["classifier"])["gap"]
        expect(sweep.shape == (len(gaps),) and np.allclose(sweep, gaps), f"linear_ae/svd gaps {sweep}, the job's {gaps}")
    expect_raises(KeyError, ["forest", "logistic"], lambda: gr.gap_sweep(path, "linear_ae", "svd", "forest"), "gap_sweep(forest)")
    return len(rows)


def check_embedding_and_hierarchy(gr, path, r, expect_embedded):
    embedded = sorted(fam for fam in r["embedding"] if "selected_feature" in r["embedding"][fam].attrs)
    expect(embedded == sorted(expect_embedded), f"embedded families {embedded}, expected {expect_embedded}")
    expect(sorted(gr.not_embedded(path)) == sorted(set(r["embedding"]) - set(embedded)), f"not_embedded {gr.not_embedded(path)}")
    metrics = gr.embedding_metrics(path)
    expect(len(metrics) == sum(len(r["embedding"][fam]) for fam in r["embedding"]), "embedding_metrics rows")
    leaves = 0
    for fam in embedded:
        selected = r["embedding"][fam].attrs["selected_feature"]
        expect(gr.selected_feature(path, fam) == selected, f"selected_feature({fam})")
        expect(gr.embedding_features(path, fam) == sorted(r["embedding"][fam]), f"embedding_features({fam})")
        # Every vectorization covers the same models; "combined" (the concatenation) has no /features group.
        feature_ids, _ = gr.features(path, next(name for name in sorted(r["embedding"][fam]) if name != "combined"), fam)
        for feature in r["embedding"][fam]:
            g = r["embedding"][fam][feature]
            e = gr.embedding(path, fam, feature)
            where = f"embedding({fam}, {feature})"
            for key in ("model_id", "z", "u", "split"):
                expect(np.array_equal(e[key], g[key][()]), f"{where}: {key} differs from raw")
            n, k = e["u"].shape
            expect(k == len(r.attrs["classes"]) and e["z"].shape == (n, k) and e["model_id"].shape == (n,), f"{where}: shapes")
            expect(np.allclose(np.linalg.norm(e["u"], axis=1), 1.0, atol=1e-9), f"{where}: u rows not of unit norm")
            expect(np.all(e["u"] >= 0), f"{where}: negative shape components")
            # u = sqrt(z / sum z) with z clamped at 0; a zero row gives the uniform shape.
            zc = np.clip(e["z"], 0, None)
            total = zc.sum(axis=1, keepdims=True)
            shapes = np.sqrt(np.where(total > 0, zc / np.where(total > 0, total, 1), 1.0 / k))
            expect(np.allclose(e["u"], shapes, atol=1e-9), f"{where}: u != sqrt(z / sum z)")
            expect(set(np.unique(e["split"]).tolist()) == {0, 1, 2}, f"{where}: split roles {np.unique(e['split'])}")
            expect(int(np.sum(e["split"] == 2)) == e["test_models"] == int(g.attrs["test_models"]), f"{where}: test_models")
            for name, value in g.attrs.items():
                got = e[name]
                same = got == value if isinstance(got, str) else (np.isnan(value) and np.isnan(got)) or got == value
                expect(same, f"{where}: attribute {name} {got} != raw {value}")
            expect(np.isfinite(e["angular_error_deg"]) and 0 <= e["angular_error_deg"] <= 90, f"{where}: angle {e['angular_error_deg']}")
            expect(sorted(e["model_id"].tolist()) == sorted(feature_ids.tolist()), f"{where}: models differ from the features'")
            row = [m for m in metrics if m["family"] == fam and m["feature"] == feature]
            expect(len(row) == 1 and row[0]["selected"] == (feature == selected)
                   and row[0]["angular_error_deg"] == e["angular_error_deg"], f"embedding_metrics row {row}")
        default = gr.embedding(path, fam)
        expect(default["feature"] == selected and np.array_equal(default["u"], r["embedding"][fam][selected]["u"][()]),
               f"embedding({fam}) is not the selected feature {selected}")

        Z, ids, members = gr.linkage(path, fam)
        g = r["hierarchy"][fam]
        n = len(ids)
        expect(np.array_equal(Z, g["linkage"][()]) and np.array_equal(ids, g["model_id"][()]), f"linkage({fam}) differs from raw")
        expect(Z.shape == (n - 1, 4), f"linkage({fam}) shape {Z.shape} for {n} leaves")
        expect(hierarchy.is_valid_linkage(Z, throw=True), f"linkage({fam}) invalid")
        expect(sorted(ids.tolist()) == sorted(default["model_id"].tolist()), f"linkage({fam}) leaves are not the embedded models")
        expect(len(members) == n - 1, f"linkage({fam}): {len(members)} member lists for {n - 1} merges")
        clusters = [{int(i)} for i in ids]
        for i, m in enumerate(members):
            expect(len(m) == int(Z[i, 3]), f"linkage({fam}) row {i}: {len(m)} members, count {Z[i, 3]}")
            union = clusters[int(Z[i, 0])] | clusters[int(Z[i, 1])]
            expect(set(m.tolist()) == union and len(set(m.tolist())) == len(m), f"linkage({fam}) row {i}: members {m} != children {union}")
            clusters.append(union)
        expect(clusters[-1] == set(ids.tolist()), f"linkage({fam}): the root does not hold every leaf")
        d = gr.dendrogram(path, fam, plot=False)  # layout only
        expect(sorted(d["ivl"]) == sorted(str(i) for i in ids) and len(d["icoord"]) == n - 1, f"dendrogram({fam}) {d['ivl']}")
        if HAS_MATPLOTLIB:
            import matplotlib
            matplotlib.use("Agg")
            drawn = gr.dendrogram(path, fam, plot=True)
            expect(drawn["ivl"] == d["ivl"], f"dendrogram({fam}, plot=True) draws another layout")
        else:
            expect_raises(ImportError, ["matplotlib"], lambda: gr.dendrogram(path, fam, plot=True), f"dendrogram({fam}, plot=True)")
        leaves += n
    for fam, why in gr.not_embedded(path).items():
        expect(why == r["embedding"][fam].attrs["not_embedded"] and "at least" in why, f"not_embedded[{fam}] {why}")
        expect_raises(ValueError, [fam, "not embedded", why], lambda: gr.embedding(path, fam), f"embedding({fam})")
        expect_raises(KeyError, [fam, "not embedded"], lambda: gr.linkage(path, fam), f"linkage({fam})")
    return len(embedded), leaves


def check_information(gr, path, r):
    rows = gr.information(path)
    raw = sorted((fam, feat) for fam in r["information"] for feat in r["information"][fam])
    expect([(x["family"], x["feature"]) for x in rows] == raw and raw, f"information keys {rows}")
    for x in rows:
        g = r["information"][x["family"]][x["feature"]]
        expect(np.isfinite(x["mi_nats"]) and x["mi_nats"] == g.attrs["mi_nats"], f"information {x}")
        for key in ("k", "models", "components"):
            expect(x[key] == int(g.attrs[key]) and x[key] > 0, f"information {x}: {key}")
        # Every estimator the row names has its finite estimate; ksg_pca is mi_nats.
        estimators = [e for e in str(x["estimators"]).split("; ") if e]
        expect("ksg_pca" in estimators and x["mi_ksg_pca_nats"] == x["mi_nats"], f"information {x}: ksg_pca")
        for e in estimators:
            expect(np.isfinite(x[f"mi_{e}_nats"]), f"information {x}: {e}")
        expect(("flow" in estimators) == ("mi_flow_heldout_nats" in x), f"information {x}: flow held-out")
    return len(rows)


def check_refusals(gr, path, zoo_path):
    expect_raises(ValueError, [zoo_path, "not a genzoo reduce file"], lambda: gr.vectorizations(zoo_path), "reading a zoo.h5")
    with tempfile.TemporaryDirectory() as tmp:
        other = os.path.join(tmp, "other.h5")
        shutil.copy(path, other)
        with h5py.File(other, "r+") as f:
            f.attrs["schema_version"] = np.int32(99)
        expect_raises(ValueError, ["schema_version 99"], lambda: gr.probe_scores(other), "schema_version 99")


def main():
    if len(sys.argv) != 6:
        fail("usage: check_reduce.py REDUCE ZOO ANALYSIS_DIR EMBEDDED_FAMILIES GAPS (comma-separated lists)")
    path, zoo_path, analysis_dir = sys.argv[1:4]
    expect_embedded = [fam for fam in sys.argv[4].split(",") if fam]
    gaps = [float(g) for g in sys.argv[5].split(",") if g]
    sys.path.insert(0, analysis_dir)
    import genzoo_reduce as gr

    with h5py.File(zoo_path, "r") as z:
        zoo_family = dict(zip(z["models/id"][()].tolist(), strings(z["models/family"])))
    with h5py.File(path, "r") as r:
        expect(gr.attributes(path)["schema_version"] == gr.SCHEMA_VERSION == int(r.attrs["schema_version"]), "attributes()")
        matrices = check_features(gr, path, r, zoo_family)
        probes = check_probe(gr, path, r, gaps)
        embedded, leaves = check_embedding_and_hierarchy(gr, path, r, expect_embedded)
        mi = check_information(gr, path, r)
    check_refusals(gr, path, zoo_path)
    print(f"analysis/genzoo_reduce.py checked: {matrices} feature matrices, {probes} probe rows, "
          f"{embedded} embedded families ({leaves} leaves), {mi} information rows")


if __name__ == "__main__":
    main()
