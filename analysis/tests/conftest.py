"""Shared fixtures of the genzoo_analysis tests: the package on sys.path, the genzoo binary, and one small
real run (tests/data/report_job.toml trained, reduced and distilled by that binary) per test session.

GENZOO_BINARY names the binary (CTest sets it); the default is build/genzoo in the repository. A missing
binary fails the tests that need it, with a message; nothing is skipped.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ANALYSIS = Path(__file__).resolve().parents[1]
REPOSITORY = ANALYSIS.parent
DATA = Path(__file__).resolve().parent / "data"
if str(ANALYSIS) not in sys.path:
    sys.path.insert(0, str(ANALYSIS))

PYTHON = "/usr/bin/python3"  # Debian's, with h5py (a pyenv python3 on PATH may lack it)


def run_command(args, **kwargs):
    """Runs a command; on failure, fails the test with its output."""
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} exited with {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def genzoo():
    binary = Path(os.environ.get("GENZOO_BINARY", REPOSITORY / "build" / "genzoo"))
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        pytest.fail(f"no genzoo binary at {binary}: build it (scripts/build) or set GENZOO_BINARY")
    return binary


@pytest.fixture(scope="session")
def small_run(genzoo, tmp_path_factory):
    """A run directory with zoo.h5, reduce.h5 and distill.h5 of report_job.toml (about 10 s on 2 cores)."""
    run = tmp_path_factory.mktemp("genzoo-run") / "run"
    run_command([genzoo, "train", DATA / "report_job.toml", "--run", run, "--quiet"])
    run_command([genzoo, "reduce", run / "zoo.h5", "--quiet"])
    run_command([genzoo, "distill", run / "zoo.h5", "--quiet"])
    return run


@pytest.fixture(scope="session")
def zoo_only_run(small_run, tmp_path_factory):
    """A run directory holding only the small run's zoo.h5 (before genzoo reduce)."""
    run = tmp_path_factory.mktemp("zoo-only") / "run"
    run.mkdir()
    shutil.copy(small_run / "zoo.h5", run / "zoo.h5")
    return run
