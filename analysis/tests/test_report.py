"""The run report on a real small run: every part renders, every image exists and decodes, each figure says
what to look for, what the run lacks is a note, the numbers it recomputes agree with genzoo reduce's, and
the page loads in headless Chromium (Debian's `chromium`) with every image decoded and no console message.
The quickstart's own report (jobs/quickstart.toml through train, reduce and distill, with its feature net)
renders and loads the same way."""

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image as mpimg

from conftest import ANALYSIS, PYTHON, REPOSITORY, run_command
from genzoo_analysis import reduce as gr
from genzoo_analysis import report

FULL_RUN_FIGURES = {
    "zoo_status", "zoo_losses", "zoo_time", "zoo_simplex", "zoo_designs", "gen_samples_vae", "gen_samples_gan",
    "reduce_probe", "reduce_gap", "reduce_shapes", "reduce_hellinger", "reduce_additivity_order", "reduce_dendrogram",
    "reduce_information", "distill_test_loss", "som_umatrix", "som_planes",
}


@pytest.fixture(scope="session")
def small_report(small_run):
    path, errors = report.write_report(str(small_run), strict=True, quiet=True)
    assert errors == []
    return Path(path)


def images_of(index):
    return re.findall(r"<img src='([^']+)'", index.read_text(encoding="utf-8"))


def check_page(index, expected_figures):
    """Every <img> names a PNG in the report directory that decodes; each figure has a caption; returns the html."""
    text = index.read_text(encoding="utf-8")
    sources = images_of(index)
    assert {Path(s).stem for s in sources} == set(expected_figures)
    assert len(sources) == len(set(sources))
    for source in sources:
        picture = mpimg.imread(index.parent / source)
        assert picture.ndim == 3 and picture.shape[0] > 50 and picture.shape[1] > 100, source
        assert np.ptp(picture[..., :3]) > 0, f"{source} is blank"
    figures = re.findall(r"<figure>(.*?)</figure>", text, re.S)
    assert len(figures) == len(sources)
    for figure in figures:
        caption = re.search(r"<figcaption>(.+?)</figcaption>", figure)
        assert caption and len(caption.group(1)) > 40, figure
    return text


def test_full_run_report(small_run, small_report):
    text = check_page(small_report, FULL_RUN_FIGURES)
    for anchor in ("zoo", "generative", "reduce", "distill", "som"):
        assert f"<section id='{anchor}'>" in text
    # What this run lacks is said on the page: no feature net, so no FID (the job gives its classes).
    assert "zoo.h5 has no fid column" in text
    assert "gan is not embedded" in text
    # Seed 000's probe numbers stand beside the run's.
    assert "seed 000: 1 linear layer" in text and "<td>0.790</td>" in text
    assert "quantization error" in text and "topographic error" in text


def test_recomputed_embedding_checks_match_genzoo_reduce(small_run):
    run = report.Run(str(small_run))
    tolerance = report._order_tolerance(gr.attributes(run.reduce))
    for row in gr.embedding_metrics(run.reduce):
        checks = report.embedding_checks(run, gr.embedding(run.reduce, row["family"], row["feature"]), tolerance)
        assert any(test for *_, test in checks["triplets"]) and any(test for *_, test in checks["chains"]), \
            "report_job.toml should put whole triplets and chains into the test split"
        for metric in ("angular_error_deg", "hellinger_spearman", "additivity_rel_error", "order_violation_rate"):
            assert checks[metric] == pytest.approx(row[metric], rel=1e-9, abs=1e-12), (row["feature"], metric)


def test_a_run_with_only_zoo_h5(zoo_only_run, tmp_path):
    out = tmp_path / "report"
    path, errors = report.write_report(str(zoo_only_run), str(out), strict=True, quiet=True)
    assert errors == [] and Path(path) == out / "index.html"
    text = check_page(out / "index.html", {"zoo_status", "zoo_losses", "zoo_time", "zoo_simplex", "zoo_designs",
                                           "gen_samples_vae", "gen_samples_gan", "som_umatrix", "som_planes"})
    assert "Not in this run: reduce.h5, distill.h5" in text
    assert "<section id='reduce'>" not in text and "<section id='distill'>" not in text
    assert "layer_stats of zoo.h5" in text  # the map's vectorization, computed from the weights


def test_the_map_vectorizes_like_genzoo_reduce(small_run):
    """Without reduce.h5 the map computes layer_stats itself; they equal reduce.h5's /features/layer_stats."""
    run = report.Run(str(small_run))
    from genzoo_analysis import zoo as gz
    for family in gr.families(run.reduce, "layer_stats"):
        ids, stored = gr.features(run.reduce, "layer_stats", family)
        weight_ids, W = gz.family_weights(run.zoo, family)
        rows = np.searchsorted(weight_ids, ids)
        ours = report._layer_stats(W[rows], gz.layout(run.zoo, family))
        np.testing.assert_allclose(ours, stored, rtol=2e-5, atol=2e-6)


def test_command_line(small_run, tmp_path):
    out = tmp_path / "cli-report"
    ok = subprocess.run([PYTHON, "-m", "genzoo_analysis.report", small_run, "--out", out, "--strict"],
                        capture_output=True, text=True, cwd=ANALYSIS)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == str(out / "index.html") and "figures in" in ok.stderr
    missing = subprocess.run([PYTHON, "-m", "genzoo_analysis.report", tmp_path / "nowhere"], capture_output=True,
                             text=True, cwd=ANALYSIS)
    assert missing.returncode == 1
    assert "no zoo.h5, reduce.h5 or distill.h5" in missing.stderr and "Traceback" not in missing.stderr


# ---- the page in a browser

CHECKER = """<script>
window.genzooErrors = [];
window.addEventListener("error", function (e) {
  window.genzooErrors.push(e.message || ("failed to load " + (e.target && (e.target.src || e.target.href))));
}, true);
window.addEventListener("load", function () {
  var images = Array.prototype.map.call(document.images, function (i) {
    return {src: i.getAttribute("src"), complete: i.complete, width: i.naturalWidth, height: i.naturalHeight};
  });
  var out = document.createElement("pre");
  out.id = "genzoo-check";
  out.textContent = JSON.stringify({images: images, errors: window.genzooErrors, title: document.title});
  document.body.appendChild(out);
});
</script>"""


def chromium(*args):
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("headless Chromium is needed: apt-get install chromium (scripts/setup installs it)")
    return subprocess.run([binary, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
                           "--virtual-time-budget=20000", *map(str, args)], capture_output=True, text=True, timeout=120)


def check_in_chromium(index, title, tmp_path):
    """Loads the page in headless Chromium: every image decoded at its size, no error event, no console
    message, and a screenshot that decodes."""
    # A copy of the page that records, after the load event, each image's decoded size and any error event.
    checked = index.parent / "chromium-check.html"
    text = index.read_text(encoding="utf-8")
    checked.write_text(text.replace("<head>", "<head>" + CHECKER, 1), encoding="utf-8")
    try:
        dom = chromium("--dump-dom", checked.as_uri())
    finally:
        checked.unlink()
    assert dom.returncode == 0, dom.stderr
    found = re.search(r'<pre id="genzoo-check">(.*?)</pre>', dom.stdout, re.S)
    assert found, f"the load event never ran:\n{dom.stdout[:2000]}\n{dom.stderr[-2000:]}"
    state = json.loads(html.unescape(found.group(1)))
    assert state["title"] == title
    assert state["errors"] == []
    assert [i["src"] for i in state["images"]] == images_of(index)
    for image in state["images"]:
        assert image["complete"] and image["width"] > 100 and image["height"] > 50, image

    # The page itself: no console message at all (it has no scripts), and a screenshot of it.
    shot = tmp_path / "report.png"
    page = chromium("--enable-logging=stderr", "--v=0", "--window-size=1200,2400", f"--screenshot={shot}", index.as_uri())
    assert page.returncode == 0, page.stderr
    console = [line for line in page.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console
    picture = mpimg.imread(shot)
    assert picture.shape[:2] == (2400, 1200)
    assert np.ptp(picture[..., :3]) > 0


def test_page_loads_in_headless_chromium(small_report, tmp_path):
    check_in_chromium(small_report, "genzoo run report: report-test", tmp_path)


# The quickstart's own report (issue 14): jobs/quickstart.toml through the pipeline scripts/quickstart runs
# (train with its feature net, reduce, distill; about 2.5 min on 2 cores), so the generative figures that
# need the feature net (FID, generated class shares) are rendered and checked too.
QUICKSTART_FIGURES = (FULL_RUN_FIGURES - {"reduce_gap"}) | {"gen_fid", "gen_shares"}


def test_quickstart_report_renders_and_loads_in_headless_chromium(genzoo, tmp_path_factory):
    run = tmp_path_factory.mktemp("quickstart") / "run"
    run_command([genzoo, "train", REPOSITORY / "jobs" / "quickstart.toml", "--run", run, "--quiet"])
    run_command([genzoo, "reduce", run / "zoo.h5", "--quiet"])
    run_command([genzoo, "distill", run / "zoo.h5", "--quiet"])
    path, errors = report.write_report(str(run), strict=True, quiet=True)
    assert errors == []
    index = Path(path)
    text = check_page(index, QUICKSTART_FIGURES)
    assert "has no fid column" not in text
    check_in_chromium(index, "genzoo run report: quickstart", tmp_path_factory.mktemp("quickstart-shot"))


def test_gaussian_run_report(genzoo, tmp_path):
    """A gaussian-source zoo (jobs/seed000.toml shrunk to 80 models of 300 steps): the reduction part is seed
    000's theorem, and the theorem reader agrees with the figure's source."""
    job = (REPOSITORY / "jobs" / "seed000.toml").read_text()
    job = job.replace("models = 400", "models = 80").replace("steps = 1500", "steps = 300").replace("chunk_models = 100", "chunk_models = 40")
    (tmp_path / "gauss.toml").write_text(job)
    run = tmp_path / "run"
    run_command([genzoo, "train", tmp_path / "gauss.toml", "--run", run, "--quiet"])
    run_command([genzoo, "reduce", run / "zoo.h5", "--quiet"])
    rows = gr.theorem(str(run / "reduce.h5"))
    assert len(rows) == 1 and len(rows[0]["m"]) == 80 and rows[0]["dimension"] == 8
    assert np.isfinite(rows[0]["s_flow"])  # 80 models >= 10 per coordinate of 4 + 2
    path, errors = report.write_report(str(run), strict=True, quiet=True)
    assert errors == []
    text = check_page(Path(path), {"zoo_status", "zoo_losses", "zoo_time", "zoo_simplex", "theorem", "som_umatrix",
                                   "som_planes"})
    assert "Seed 000&#x27;s closed forms" in text or "Seed 000's closed forms" in text
