"""The readers (genzoo_analysis.zoo, .reduce, .distill) on a real run: the old module names are the same
modules, the command lines still work, other kinds and schema versions are refused with the file closed,
and the new zoo functions agree with plain h5py."""

import shutil
import subprocess

import h5py
import numpy as np
import pytest

from conftest import ANALYSIS, PYTHON
from genzoo_analysis import distill as gd
from genzoo_analysis import reduce as gr
from genzoo_analysis import zoo as gz


def test_old_module_names_are_the_package_modules():
    import genzoo_distill
    import genzoo_reduce
    import genzoo_zoo
    assert genzoo_zoo is gz and genzoo_reduce is gr and genzoo_distill is gd


def test_old_command_lines_still_work(small_run, tmp_path):
    reduce = subprocess.run([PYTHON, ANALYSIS / "genzoo_reduce.py", small_run / "reduce.h5"], capture_output=True,
                            text=True)
    assert reduce.returncode == 0, reduce.stderr
    assert "families: gan, linear_ae, vae" in reduce.stdout and "hierarchy:" in reduce.stdout
    png = tmp_path / "loss.png"
    distill = subprocess.run([PYTHON, ANALYSIS / "genzoo_distill.py", small_run / "distill.h5", "--png", png],
                             capture_output=True, text=True)
    assert distill.returncode == 0, distill.stderr
    assert "scratch" in distill.stdout and png.stat().st_size > 1000
    refused = subprocess.run([PYTHON, ANALYSIS / "genzoo_reduce.py", small_run / "zoo.h5"], capture_output=True, text=True)
    assert refused.returncode == 1 and "not a genzoo reduce file" in refused.stderr


@pytest.mark.parametrize("reader,call,file", [
    (gr, lambda p: gr.vectorizations(p), "zoo.h5"),
    (gr, lambda p: gr.vectorizations(p), "distill.h5"),
    (gd, lambda p: gd.results(p), "reduce.h5"),
])
def test_another_kind_of_file_is_refused_and_closed(small_run, reader, call, file):
    path = small_run / file
    with pytest.raises(ValueError, match=f"not a genzoo {reader.KIND} file"):
        call(str(path))
    with h5py.File(path, "r+"):  # the reader closed it: HDF5 would refuse r+ on a file still open for reading
        pass


@pytest.mark.parametrize("file,call,prefix", [
    ("zoo.h5", lambda p: gz.load_models(p), ""),
    ("reduce.h5", lambda p: gr.probe_scores(p), "reduce "),
    ("distill.h5", lambda p: gd.summary(p), "distill "),
])
def test_another_schema_version_is_refused(small_run, tmp_path, file, call, prefix):
    other = tmp_path / file
    shutil.copy(small_run / file, other)
    with h5py.File(other, "r+") as f:
        f.attrs["schema_version"] = np.int32(99)
    with pytest.raises(ValueError, match=f"{other}: {prefix}schema_version 99, this reader reads 1"):
        call(str(other))


def test_zoo_reader_agrees_with_h5py(small_run):
    path = str(small_run / "zoo.h5")
    models = gz.load_models(path)
    assert gz.attributes(path)["job_name"] == "report-test"
    assert gz.families(path) == sorted(set(models["family"]))
    with h5py.File(path, "r") as f:
        for family in gz.families(path):
            ids, data = gz.family_weights(path, family)
            np.testing.assert_array_equal(ids, f["weights"][family]["model_id"][()])
            np.testing.assert_array_equal(data, f["weights"][family]["data"][()])
            layout = gz.layout(path, family)
            # The layout tiles each flat row exactly, and model_weights rebuilds the same numbers.
            ends = sorted((offset, offset + int(np.prod(shape))) for _, _, shape, offset in layout)
            assert ends[0][0] == 0 and ends[-1][1] == data.shape[1]
            assert all(a[1] == b[0] for a, b in zip(ends, ends[1:]))
            tensors = gz.model_weights(path, family, int(ids[-1]))
            np.testing.assert_array_equal(np.concatenate([tensors[name].ravel() for name, *_ in
                                                          sorted(layout, key=lambda r: r[3])]), data[-1])
            sub_ids, sub = gz.family_weights(path, family, rows=slice(1, 3))
            np.testing.assert_array_equal(sub, data[1:3])
        assert gz.sample_families(path) == sorted(f["samples"])
        for family in gz.sample_families(path):
            ids, images, interpolation = gz.sample_images(path, family)
            raw = f["samples"][family]["images"][()]
            assert images.shape == raw.shape[:2] + (28, 28) and 0 < interpolation < images.shape[1]
            np.testing.assert_array_equal(images.reshape(raw.shape), raw)
            assert set(ids.tolist()) <= set(models["id"][models["family"] == family].tolist())
    with pytest.raises(KeyError, match="no family 'resnet'"):
        gz.family_weights(path, "resnet")


def test_hierarchies_lists_the_dendrograms(small_run):
    path = str(small_run / "reduce.h5")
    h = gr.hierarchies(path)
    assert list(h) == ["linear_ae"] and h["linear_ae"]["feature"] == gr.selected_feature(path, "linear_ae")
    Z, ids, _ = gr.linkage(path, "linear_ae")
    assert Z.shape == (len(ids) - 1, 4)
