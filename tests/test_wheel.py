"""A built wheel works on its own: configs inside, console scripts, runs from any directory.

The wheel is built from a copy of the working tree (nothing is written into the checkout) and
installed with ``--no-deps --no-index`` into a fresh virtual environment outside the repository.
Its dependencies come from the test's own environment through a ``.pth`` line, which adds that
site-packages directory *after* the fresh one and does not run its ``.pth`` files, so the
checkout's editable dmsim cannot shadow the installed wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SMALL = ["steps=6", "region.population=200000", "region.buyer_groups=300"]


def sh(*cmd, cwd: Path, env: dict[str, str] | None = None, timeout: int = 180) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{cmd}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    pytest.importorskip("setuptools", reason="the test extra's setuptools builds the wheel without network")
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "dmsim", src / "dmsim", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("wheel")
    sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", out, src,
       cwd=src)
    (whl,) = out.glob("dmsim-*.whl")
    return whl


@pytest.fixture(scope="module")
def fresh(tmp_path_factory, wheel) -> Path:
    env_dir = tmp_path_factory.mktemp("fresh") / "venv"
    assert REPO not in env_dir.parents
    sh(sys.executable, "-m", "venv", "--without-pip", env_dir, cwd=env_dir.parent)
    py = env_dir / "bin" / "python"
    sh(sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "--no-index", wheel, cwd=env_dir.parent)
    site = sh(py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=env_dir.parent).stdout.strip()
    (Path(site) / "_dmsim_test_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return env_dir


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


def test_the_wheel_holds_the_configs_and_the_console_scripts(wheel):
    with zipfile.ZipFile(wheel) as z:
        files = set(z.namelist())
        (ep,) = [n for n in files if n.endswith(".dist-info/entry_points.txt")]
        entry_points = z.read(ep).decode()
    for f in ("dmsim/configs/config.yaml", "dmsim/configs/scenario/shared_services.yaml",
              "dmsim/configs/strategy/peer_network.yaml", "dmsim/configs/experiment/scenario_comparison.yaml"):
        assert f in files
    scenarios = {Path(n).stem for n in files if n.startswith("dmsim/configs/scenario/")}
    assert scenarios == {p.stem for p in (REPO / "dmsim" / "configs" / "scenario").glob("*.yaml")}
    assert "dmsim = dmsim.__main__:main" in entry_points
    assert "dmsim-compare = dmsim.compare:main" in entry_points


def test_the_installed_wheel_runs_from_any_directory(tmp_path, fresh):
    env = clean_env()
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    where = sh(fresh / "bin" / "python", "-c", "import dmsim; print(dmsim.__file__)", cwd=cwd, env=env).stdout
    assert Path(where.strip()).resolve().is_relative_to(fresh.resolve()), where  # the wheel, not the checkout
    out = tmp_path / "run"
    r = sh(fresh / "bin" / "dmsim", "+scenario=shared_services", *SMALL, f"hydra.run.dir={out}", cwd=cwd, env=env)
    assert "DM market share" in r.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario"] == "shared_services" and summary["months"] == 6
    assert (out / "timeseries.parquet").is_file()
    sh(fresh / "bin" / "python", "-c",
       "from dmsim.run import compose_config; assert compose_config(['+scenario=shared_services']).scenario "
       "== 'shared_services'", cwd=cwd, env=env)
    # dmsim-compare reads the run's parent as a sweep; an empty directory is a one-line error, exit 2.
    bad = subprocess.run([fresh / "bin" / "dmsim-compare", tmp_path / "nothing"], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "dmsim.compare: error" in bad.stderr
    assert not list(cwd.iterdir())  # nothing written into the working directory
