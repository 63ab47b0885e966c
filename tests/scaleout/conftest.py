"""Real engines for sweep tests: a one-node SLURM cluster with accounting, and a local Ray head.

Both are module fixtures, started once for their test module, in the background, with every process they start
recorded and stopped at the end (and killed by the kernel if this session dies first). A
machine that cannot run one (not root and SLURM missing, no apt-get, no wheel for Ray …)
skips its tests with a one-line reason; nothing waits without a time limit.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts" / "scaleout"))

import local_ray  # noqa: E402 - the helpers live with the scripts an operator runs by hand
import local_slurm  # noqa: E402

# One small sweep for every engine: 4 runs of about a second each.
SWEEP = ["+scenario=baseline,shared_services", "seed=0,1", "steps=12", "region.buyer_groups=300",
         "output.dashboard=false", "output.quiet=true"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slurm: runs sweeps on a real one-node SLURM cluster (started by the tests)")
    config.addinivalue_line("markers", "ray: runs sweeps on a real local Ray head (started by the tests)")


def dmsim_sweep(python: str | Path, cwd: Path, *args: str, env: dict | None = None,
                timeout: float = 180) -> subprocess.CompletedProcess:
    """``python -m dmsim -m ARGS`` in ``cwd``; a hang fails the test at ``timeout`` (s)."""
    return subprocess.run([str(python), "-m", "dmsim", "-m", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def run_dirs(sweep_dir: Path) -> dict[str, Path]:
    """The run folders of a sweep, by name."""
    return {p.parent.name: p.parent for p in sweep_dir.glob("*/config.yaml")}


@pytest.fixture(scope="session")
def basic_reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """:data:`SWEEP` through Hydra's basic launcher (one process, the project's venv): run folders by name."""
    cwd = tmp_path_factory.mktemp("basic")
    r = dmsim_sweep(sys.executable, cwd, "hydra/launcher=basic", "hydra.sweep.dir=multirun/basic", *SWEEP)
    assert r.returncode == 0, r.stderr
    runs = run_dirs(cwd / "multirun" / "basic")
    assert len(runs) == 4
    return runs


@pytest.fixture(scope="module")  # daemons up only while their module's tests run
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory):
    """A one-node SLURM cluster with accounting (installed with apt-get if missing), stopped at the end."""
    if not sys.platform.startswith("linux"):
        pytest.skip("a local SLURM cluster needs Linux")
    try:
        local_slurm.ensure_installed()
        cluster = local_slurm.LocalSlurm(tmp_path_factory.mktemp("slurm")).start()
    except (local_slurm.Unavailable, OSError, subprocess.SubprocessError) as e:
        pytest.skip(f"no local SLURM cluster: {e}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory: pytest.TempPathFactory):
    """A Ray head from the Ray venv (built under ~/.cache on first use), stopped at the end."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the Ray fixture reads /proc (Linux)")
    try:
        python = local_ray.ensure_venv()
        head = local_ray.RayHead(python, tmp_path_factory.mktemp("rayhead")).start()
    except (local_ray.Unavailable, OSError, subprocess.SubprocessError) as e:
        pytest.skip(f"no local Ray head: {e}")
    try:
        yield head
    finally:
        head.stop()
