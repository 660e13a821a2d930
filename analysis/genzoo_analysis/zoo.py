"""Read genzoo zoo files (zoo.h5 and shards) with numpy and h5py alone.

The schema is described in DESIGN.md section 5. Typical use:

    from genzoo_analysis import zoo as gz            # or, as before, `import genzoo_zoo as gz`
    models = gz.load_models("run/zoo.h5")            # columns of /models
    w = gz.model_weights("run/zoo.h5", "vae", 17)    # {"encoder.weight": ndarray, ...}
    idx = gz.model_samples("run/zoo.h5", 17)         # its training-set indices
    ids, W = gz.family_weights("run/zoo.h5", "vae")  # every vae's flat weights [N_f, P_f]
    ids, images, interp = gz.sample_images("run/zoo.h5", "gan")   # sample grids [N_f, S, 28, 28]
"""

import numpy as np

from ._h5 import attrs as _attrs, layout as _layout_rows, open_checked, read as _read
from ._h5 import unflatten as _unflatten_rows

SCHEMA_VERSION = 1

# /models datasets that are not one row per model: the CSR pair of sample indices.
_CSR_DATASETS = ("sample_offsets", "sample_indices")


def _open(path):
    return open_checked(path, SCHEMA_VERSION)


def _unflatten(flat, layout_group):
    return _unflatten_rows(flat, _layout_rows(layout_group))


def _row_of(ids, model_id, where):
    rows = np.flatnonzero(ids == model_id)
    if rows.size == 0:
        raise KeyError(f"no model {model_id} in {where}")
    return int(rows[0])


def attributes(path):
    """The root attributes: schema_version, genzoo_version, created_utc, job_name, job_toml, dataset, classes, ..."""
    with _open(path) as f:
        return _attrs(f)


def families(path):
    """Families with stored weights (/weights/<family>), sorted."""
    with _open(path) as f:
        return sorted(f["weights"]) if "weights" in f else []


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


def layout(path, family):
    """[(name, role, shape, offset)] of a family's flat weight rows."""
    with _open(path) as f:
        return _layout_rows(f["weights"][family]["layout"])


def family_weights(path, family, rows=None):
    """(model_ids [N_f], data [N_f, P_f] float32) of one family; rows: a slice or sorted index array to read
    only part of it."""
    with _open(path) as f:
        if family not in f.get("weights", {}):
            raise KeyError(f"no family {family!r} in {path}:/weights (it has: {', '.join(f.get('weights', {})) or 'none'})")
        group = f["weights"][family]
        select = slice(None) if rows is None else rows
        return group["model_id"][select], group["data"][select]


def sample_families(path):
    """Families with stored sample grids (/samples/<family>), sorted."""
    with _open(path) as f:
        return sorted(f["samples"]) if "samples" in f else []


def sample_images(path, family):
    """(model_ids [N_f], images [N_f, S, 28, 28], interpolation) of /samples/<family> (vae and gan): each
    model's sample grid from latent codes shared by all models, then its last `interpolation` images
    (an interpolation row; 0 when the file does not say)."""
    with _open(path) as f:
        if family not in f.get("samples", {}):
            raise KeyError(f"no samples of family {family!r} in {path} (it has: {', '.join(f.get('samples', {})) or 'none'})")
        group = f["samples"][family]
        images = group["images"][()]
        side = int(round(np.sqrt(images.shape[-1])))
        return (group["model_id"][()], images.reshape(images.shape[0], images.shape[1], side, side),
                int(group.attrs.get("interpolation_images", 0)))


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
