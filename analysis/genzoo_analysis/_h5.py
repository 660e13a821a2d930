"""What the three readers share: opening a genzoo HDF5 file with its kind and schema checked, and turning
attributes and string datasets into plain Python values."""

import h5py
import numpy as np


def value(v):
    """An attribute as a plain Python value (numpy scalars to int/float, bytes to str, arrays kept)."""
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v


def attrs(obj):
    """An HDF5 object's attributes as name -> plain value."""
    return {name: value(v) for name, v in obj.attrs.items()}


def strings(dataset):
    """A string dataset as an ndarray of str."""
    return np.array(dataset.asstr()[()], dtype=str)


def read(dataset):
    """A whole dataset as an ndarray, strings decoded to str."""
    if h5py.check_string_dtype(dataset.dtype) is not None:
        return strings(dataset)
    return dataset[()]


def open_checked(path, schema_version, kind=None, hint=None):
    """h5py.File(path, "r") after checking its root attributes.

    kind: the required root attribute `kind` ("reduce", "distill"; None for zoo files, which have none);
    hint: how such a file is made, appended to the wrong-kind error. Raises ValueError naming the file
    for another kind or schema_version (the file is closed first).
    """
    f = h5py.File(path, "r")
    try:
        if kind is not None:
            found = f.attrs.get("kind")
            if value(found) != kind:
                what = "no root attribute kind" if found is None else f"root attribute kind is {value(found)!r}"
                raise ValueError(f"{path}: not a genzoo {kind} file ({what}{'; ' + hint if hint else ''})")
        version = int(f.attrs.get("schema_version", -1))
        if version != schema_version:
            prefix = f"{kind} " if kind else ""
            raise ValueError(f"{path}: {prefix}schema_version {version}, this reader reads {schema_version}")
    except BaseException:
        f.close()
        raise
    return f


def layout(group):
    """[(name, role, shape, offset)] of a layout group (name, role, offset, shape_offsets + shapes CSR): how
    a flat weight row splits into named tensors."""
    names, roles = strings(group["name"]), strings(group["role"])
    offsets, shape_offsets, shapes = group["offset"][()], group["shape_offsets"][()], group["shapes"][()]
    return [(str(names[i]), str(roles[i]), tuple(int(d) for d in shapes[shape_offsets[i]:shape_offsets[i + 1]]),
             int(offsets[i])) for i in range(len(names))]


def unflatten(flat, layout_rows):
    """One flat weight vector as named tensors (numpy views), from layout() rows."""
    return {name: flat[offset:offset + int(np.prod(shape, dtype=np.int64))].reshape(shape)
            for name, _role, shape, offset in layout_rows}
