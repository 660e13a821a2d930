"""Reads a genzoo zoo.h5 with h5py and numpy alone, as a downstream user would (tests/cli/zoo_python_test.cpp).

    check_zoo.py losses ZOO DATA_DIR            rebuild every linear_ae model from the stored layout, recompute
                                                its MSE over its own training samples, compare with final_loss
    check_zoo.py analysis ZOO DATA_DIR ANALYSIS_DIR   exercise analysis/genzoo_zoo.py against raw h5py reads

Prints one summary line per check and exits non-zero (with the reason) on the first mismatch.
"""

import gzip
import json
import os
import shutil
import sys
import tempfile

import h5py
import numpy as np

# final_loss is a float32 forward pass averaged in double; numpy recomputes in float64.
# Relative tolerance 1e-4 covers float32 rounding of ~800k squared errors by a wide margin.
LOSS_RTOL = 1e-4


def fail(message):
    print("check_zoo: FAIL: " + message)
    sys.exit(1)


def read_idx(path, header_bytes):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=header_bytes)


def train_images(data_dir):
    pixels = read_idx(os.path.join(data_dir, "train-images-idx3-ubyte.gz"), 16)
    return (pixels.reshape(-1, 784).astype(np.float32) / np.float32(255.0))


def train_labels(data_dir):
    return read_idx(os.path.join(data_dir, "train-labels-idx1-ubyte.gz"), 8)


def strings(dataset):
    return [str(s) for s in dataset.asstr()[()]]


def layout_from_csr(group):
    """[(name, shape, offset)] from /weights/<family>/layout/*."""
    names = strings(group["name"])
    offsets = group["offset"][()]
    numels = group["numel"][()]
    shape_offsets = group["shape_offsets"][()]
    shapes = group["shapes"][()]
    layout = []
    for i, name in enumerate(names):
        shape = tuple(int(d) for d in shapes[shape_offsets[i]:shape_offsets[i + 1]])
        if int(np.prod(shape, dtype=np.int64)) != int(numels[i]):
            fail(f"{group.name}: {name} has shape {shape} but numel {numels[i]}")
        layout.append((name, shape, int(offsets[i])))
    return layout


def check_losses(zoo_path, data_dir):
    images = train_images(data_dir)
    with h5py.File(zoo_path, "r") as f:
        weights = f["weights/linear_ae"]
        layout = layout_from_csr(weights["layout"])
        # The JSON attribute is the same layout for human readers.
        from_json = [(p["name"], tuple(p["shape"]), p["offset"]) for p in json.loads(weights.attrs["layout_json"])]
        if from_json != layout:
            fail(f"layout_json {from_json} differs from the layout datasets {layout}")
        if [name for name, _, _ in layout] != ["encoder.weight", "encoder.bias", "decoder.weight", "decoder.bias"]:
            fail(f"unexpected linear_ae layout {layout}")

        models = f["models"]
        ids = models["id"][()]
        offsets = models["sample_offsets"][()]
        indices = models["sample_indices"]
        final_loss = models["final_loss"][()]
        status = strings(models["status"])
        data = weights["data"]
        worst = 0.0
        checked = 0
        for row, model_id in enumerate(weights["model_id"][()]):
            m = int(np.flatnonzero(ids == model_id)[0])
            if status[m] != "ok":
                fail(f"model {model_id} has status {status[m]}")
            flat = data[row].astype(np.float64)
            p = {name: flat[offset:offset + int(np.prod(shape))].reshape(shape) for name, shape, offset in layout}
            x = images[indices[offsets[m]:offsets[m + 1]]].astype(np.float64)
            code = x @ p["encoder.weight"].T + p["encoder.bias"]
            recon = code @ p["decoder.weight"].T + p["decoder.bias"]
            loss = float(np.mean((recon - x) ** 2))
            rel = abs(loss - final_loss[m]) / final_loss[m]
            if rel > LOSS_RTOL:
                fail(f"model {model_id}: recomputed MSE {loss:.8g}, stored final_loss {final_loss[m]:.8g} (rel {rel:.3g})")
            worst = max(worst, rel)
            checked += 1
    print(f"linear_ae losses checked: {checked} models, max relative difference {worst:.3g}")


def check_analysis(zoo_path, data_dir, analysis_dir):
    sys.path.insert(0, analysis_dir)
    import genzoo_zoo as gz

    labels = train_labels(data_dir)
    models = gz.load_models(zoo_path)
    ids = models["id"]
    if list(ids) != list(range(len(ids))):
        fail(f"load_models ids {list(ids)}")
    if "sample_offsets" in models or "sample_indices" in models:
        fail("load_models returned the CSR datasets as columns")
    with h5py.File(zoo_path, "r") as f:
        classes = [int(c) for c in f.attrs["classes"]]
        for name, column in models.items():
            if len(column) != len(ids):
                fail(f"column {name} has {len(column)} rows for {len(ids)} models")
        for model_id in ids:
            m = int(model_id)
            samples = gz.model_samples(zoo_path, m)
            begin, end = f["models/sample_offsets"][m:m + 2]
            if not np.array_equal(samples, f["models/sample_indices"][begin:end]):
                fail(f"model_samples({m}) differs from the CSR slice")
            if len(samples) != models["n_samples"][m] or len(set(samples.tolist())) != len(samples):
                fail(f"model {m}: {len(samples)} samples (unique?) but n_samples {models['n_samples'][m]}")
            # The stored indices really are the model's class mixture: their labels give its counts.
            counts = [int(np.sum(labels[samples] == c)) for c in classes]
            if counts != [int(c) for c in models["counts"][m]]:
                fail(f"model {m}: labels of its samples count {counts}, stored counts {list(models['counts'][m])}")

            family = str(models["family"][m])
            tensors = gz.model_weights(zoo_path, family, m)
            group = f["weights"][family]
            row = int(np.flatnonzero(group["model_id"][()] == m)[0])
            flat = group["data"][row]
            rebuilt = np.concatenate([tensors[name].ravel() for name, _, _ in layout_from_csr(group["layout"])])
            if not np.array_equal(rebuilt, flat):
                fail(f"model_weights({family}, {m}) does not rebuild the stored row")
        enc = gz.model_weights(zoo_path, "linear_ae", int(f["weights/linear_ae/model_id"][0]))["encoder.weight"]
        if enc.shape != (16, 784):
            fail(f"linear_ae encoder.weight shape {enc.shape}")
    try:
        gz.model_weights(zoo_path, "linear_ae", 10**6)
        fail("model_weights of an unknown id did not raise")
    except KeyError:
        pass

    # Another schema version is refused, not misread.
    with tempfile.TemporaryDirectory() as tmp:
        other = os.path.join(tmp, "other.h5")
        shutil.copy(zoo_path, other)
        with h5py.File(other, "r+") as f:
            f.attrs["schema_version"] = np.int32(99)
        try:
            gz.load_models(other)
            fail("load_models read a schema_version 99 file")
        except ValueError as e:
            if "schema_version 99" not in str(e):
                fail(f"unclear error for schema_version 99: {e}")
    print(f"analysis/genzoo_zoo.py checked: {len(ids)} models")


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "losses":
        check_losses(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 5 and sys.argv[1] == "analysis":
        check_analysis(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        fail("usage: check_zoo.py losses ZOO DATA_DIR | analysis ZOO DATA_DIR ANALYSIS_DIR")


if __name__ == "__main__":
    main()
