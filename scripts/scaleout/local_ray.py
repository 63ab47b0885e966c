"""A Ray head on this machine, from a separate virtual environment, for trying and testing dmsim's Ray path.

The ``ray`` extra (``hydra-ray-launcher`` 1.2.2) pins cloudpickle < 3 and downgrades joblib, so
it gets its own venv (``~/.cache/dmsim-ray-venv`` by default; ``DMSIM_RAY_VENV`` sets another)
instead of the project's ``.venv``: dmsim's dependencies, pinned to the versions of the
interpreter that builds it (so runs compute the same bits), plus the extra; the checkout is put
on its path (a ``.pth`` file, as an editable install would, without rewriting the checkout's
egg-info). :class:`RayHead` runs ``ray start --head --block`` from it — one process whose
SIGTERM stops every Ray process it started — in a folder of its own, on free ports.

Command line (prints the address, keeps the head up until Ctrl-C)::

    python scripts/scaleout/local_ray.py
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from local_slurm import Unavailable, die_with_parent, free_port  # noqa: E402 - a sibling script

CHECKOUT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("DMSIM_RAY_VENV", Path.home() / ".cache" / "dmsim-ray-venv"))
# Packages whose version can change what a run computes or writes: pinned to the project's venv, so
# runs through Ray are comparable bit for bit. Everything else is pip's choice (pinning all of them
# sends pip's resolver backtracking for many minutes against the extra's own pins).
PINNED = {"numpy", "pandas", "pyarrow", "scipy", "mesa", "networkx", "hydra-core", "omegaconf", "pyyaml"}


def requirements(checkout: Path = CHECKOUT) -> list[str]:
    """The dependencies of dmsim and its ``ray`` extra, from pyproject.toml."""
    project = tomllib.loads((checkout / "pyproject.toml").read_text())["project"]
    return [*project["dependencies"], *project["optional-dependencies"]["ray"]]


def pins(python: str = sys.executable) -> list[str]:
    """``name==version`` of the :data:`PINNED` packages of ``python``'s environment."""
    out = subprocess.run([python, "-m", "pip", "freeze", "--exclude-editable"], capture_output=True, text=True,
                         timeout=120).stdout
    return [line for line in out.splitlines() if "==" in line
            and line.split("==")[0].lower().replace("_", "-") in PINNED]


def ensure_venv(venv: Path = VENV, checkout: Path = CHECKOUT, timeout_s: float = 900) -> Path:
    """Create or update the Ray venv; return its python.

    Reinstalls only when the requirements or the pins changed (a stamp file holds their hash).

    Raises:
        Unavailable: the venv could not be built (no network, no wheel for this Python …).
    """
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test sessions at once: one builds, the other waits and reuses
        return _ensure_venv(venv, checkout, timeout_s)


def _ensure_venv(venv: Path, checkout: Path, timeout_s: float) -> Path:
    python = venv / "bin" / "python"
    reqs, pinned = requirements(checkout), pins()
    stamp = hashlib.sha256("\n".join([*reqs, "--", *pinned]).encode()).hexdigest()
    stamp_file = venv / ".dmsim-ray-installed"
    if python.exists() and stamp_file.exists() and stamp_file.read_text() == stamp:
        return python
    try:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=120)
        constraints = venv / "constraints.txt"
        constraints.write_text("\n".join(pinned) + "\n")
        cmd = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *reqs]
        r = subprocess.run([*cmd, "-c", str(constraints)], capture_output=True, text=True, timeout=timeout_s)
        if r.returncode != 0:  # the extra needs other versions than the project's: let pip choose
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        if r.returncode != 0:
            last = (r.stderr.strip().splitlines() or ["no message"])[-1]
            raise Unavailable(f"installing the ray extra into {venv} failed: {last}")
    except subprocess.TimeoutExpired:
        raise Unavailable(f"installing the ray extra into {venv} took more than {timeout_s:.0f} s") from None
    except subprocess.CalledProcessError as e:
        raise Unavailable(f"creating {venv} failed: {e}") from None
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    (Path(site) / "dmsim-checkout.pth").write_text(f"{checkout}\n")  # `import dmsim` finds this checkout
    stamp_file.write_text(stamp)
    return python


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children, their children …), from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        ppid = int(text.rsplit(")", 1)[1].split()[1])  # the name in parentheses may hold spaces
        children.setdefault(ppid, []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def cmdline(pid: int) -> str:
    """A process's command line (its title, for Ray workers: ``ray::FUNCTION``); '' if gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


@dataclass
class RayHead:
    """A one-node Ray cluster started by this object (``ray start --head --block``).

    Attributes:
        python: the Ray venv's python.
        root: working folder of the head (and so of its workers).
        num_cpus: CPUs the head offers (runs at once).
    """

    python: Path
    root: Path
    num_cpus: int = 2
    proc: subprocess.Popen | None = None
    port: int = 0
    temp_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="dray")))  # short: socket paths

    @property
    def address(self) -> str:
        """``HOST:PORT`` of the head, for ``hydra.launcher.ray.init.address``."""
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 90) -> RayHead:
        """Start the head; return once it accepts drivers.

        Raises:
            Unavailable: it exited or did not come up within ``timeout_s`` (s).
        """
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        ray = self.python.parent / "ray"
        log_path = self.root / "ray-head.log"
        cmd = [str(ray), "start", "--head", "--block", f"--port={self.port}", f"--num-cpus={self.num_cpus}",
               "--node-ip-address=127.0.0.1", "--include-dashboard=false", "--disable-usage-stats",
               f"--temp-dir={self.temp_dir}", f"--ray-client-server-port={free_port()}",
               f"--dashboard-agent-listen-port={free_port()}"]
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=self.root, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True, preexec_fn=die_with_parent)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise Unavailable(f"ray start exited with status {self.proc.returncode}; log: {log_path}")
            if "Ray runtime started" in log_path.read_text(errors="replace"):
                return self
            time.sleep(0.3)
        self.stop()
        raise Unavailable(f"the Ray head did not start within {timeout_s:.0f} s; log: {log_path}")

    def workers(self, title: str = "ray::_run_job") -> list[int]:
        """PIDs of this head's worker processes running a Hydra job (their title is ``ray::_run_job``)."""
        if self.proc is None:
            return []
        return [p for p in descendants(self.proc.pid) if cmdline(p).startswith(title)]

    def stop(self, timeout_s: float = 30) -> None:
        """Stop the head: SIGTERM to ``ray start`` (it stops what it started), then KILL what is left of it."""
        if self.proc is None:
            return
        left = descendants(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout_s)
        for pid in left:  # only processes this head started; a PID reused since would not be ours
            if cmdline(pid) and ("ray" in cmdline(pid) or str(self.python.parent) in cmdline(pid)):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        shutil.rmtree(self.temp_dir, ignore_errors=True)
        self.proc = None


def main() -> None:
    """Build the venv if needed and keep a head up until Ctrl-C."""
    try:
        python = ensure_venv()
        head = RayHead(python, Path(tempfile.mkdtemp(prefix="dmsim-ray-"))).start()
    except Unavailable as e:
        sys.exit(f"local_ray: {e}")
    print(f"Ray head at {head.address}; python with the ray extra: {python}\n"
          f"  {python} -m dmsim -m hydra/launcher=ray_attach hydra.launcher.ray.init.address={head.address} "
          f"hydra.sweep.dir=$PWD/multirun/NAME ...\nCtrl-C stops it.", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        head.stop()


if __name__ == "__main__":
    main()
