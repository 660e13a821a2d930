"""Read genzoo zoo files (zoo.h5 and shards) with numpy and h5py alone.

The schema is described in DESIGN.md section 5. Typical use:

    import genzoo_zoo as gz
    models = gz.load_models("run/zoo.h5")            # columns of /models
    w = gz.model_weights("run/zoo.h5", "vae", 17)    # {"encoder.weight": ndarray, ...}
    idx = gz.model_samples("run/zoo.h5", 17)         # its training-set indices
"""

import h5py
import numpy as np

SCHEMA_VERSION = 1

# /models datasets that are not one row per model: the CSR pair of sample indices.
_CSR_DATASETS = ("sample_offsets", "sample_indices")


def _open(path):
    f = h5py.File(path, "r")
    version = int(f.attrs.get("schema_version", -1))
    if version != SCHEMA_VERSION:
        f.close()
        raise ValueError(f"{path}: schema_version {version}, this reader reads {SCHEMA_VERSION}")
    return f


def _read(dataset):
    """A whole dataset as an ndarray, strings decoded to str."""
    if h5py.check_string_dtype(dataset.dtype) is not None:
        return np.array(dataset.asstr()[()], dtype=str)
    return dataset[()]


def _layout(group):
    """[(name, role, shape, offset)] from a layout group's CSR datasets."""
    names, roles, offsets = _read(group["name"]), _read(group["role"]), group["offset"][()]
    shape_offsets, shapes = group["shape_offsets"][()], group["shapes"][()]
    return [
        (str(names[i]), str(roles[i]), tuple(int(d) for d in shapes[shape_offsets[i]:shape_offsets[i + 1]]),
         int(offsets[i]))
        for i in range(len(names))
    ]


def _unflatten(flat, layout_group):
    tensors = {}
    for name, _role, shape, offset in _layout(layout_group):
        size = int(np.prod(shape, dtype=np.int64))
        tensors[name] = flat[offset:offset + size].reshape(shape)
    return tensors


def _row_of(ids, model_id, where):
    rows = np.flatnonzero(ids == model_id)
    if rows.size == 0:
        raise KeyError(f"no model {model_id} in {where}")
    return int(rows[0])


def load_models(path):
    """Every per-model column of /models (id, family, counts [N, K], metrics, ...) as name -> ndarray."""
    with _open(path) as f:
        return {name: _read(dataset) for name, dataset in f["models"].items() if name not in _CSR_DATASETS}


def model_weights(path, family, model_id):
    """One model's parameters as name -> ndarray, rebuilt from /weights/<family>/layout."""
    with _open(path) as f:
        group = f["weights"][family]
        row = _row_of(group["model_id"][()], model_id, f"{path}:/weights/{family}")
        return _unflatten(group["data"][row], group["layout"])


def model_samples(path, model_id):
    """The training-set indices model_id was trained on."""
    with _open(path) as f:
        models = f["models"]
        row = _row_of(models["id"][()], model_id, f"{path}:/models")
        begin, end = models["sample_offsets"][row:row + 2]
        return models["sample_indices"][begin:end]


def featurenet_weights(path):
    """The feature net's parameters as name -> ndarray."""
    with _open(path) as f:
        group = f["featurenet"]
        return _unflatten(group["weights"][()], group["layout"])
