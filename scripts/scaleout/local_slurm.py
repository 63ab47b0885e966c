"""A one-node SLURM cluster with accounting on this machine, for trying and testing dmsim's SLURM path.

Debian's packages (``slurm-wlm``, ``slurmdbd``, ``munge``, ``mariadb-server``) are installed
with apt-get if missing (root only). Every daemon — munged, mariadbd, slurmdbd, slurmctld,
slurmd — runs in the foreground of a process this module starts, with its state, sockets,
logs and configuration in one folder, on free ports; :meth:`LocalSlurm.stop` ends exactly
those processes (and the jobs of this cluster). Nothing under /etc is changed, so a system
SLURM or MariaDB on the machine is left alone.

The cluster is the one a SLURM administrator would set up on a workstation without systemd:
one ``debug`` partition, ``proctrack/linuxproc`` and ``task/none`` (no cgroups), consumable
cores and memory (``select/cons_tres`` with ``CR_Core_Memory``), accounting through slurmdbd
into MariaDB — without it ``sacct`` cannot say that a job was cancelled and submitit waits for
ever.

Command line (prints the environment to use, keeps the cluster up until Ctrl-C)::

    python scripts/scaleout/local_slurm.py [DIR]
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

PACKAGES = ["slurm-wlm", "slurmdbd", "munge", "mariadb-server"]
# Programs the cluster needs, all from the packages above.
PROGRAMS = ["munged", "mariadbd", "mariadb-install-db", "mariadb", "slurmdbd", "slurmctld", "slurmd",
            "sbatch", "squeue", "sacct", "scancel", "sinfo"]
POLICY_RC = Path("/usr/sbin/policy-rc.d")  # Debian's switch that stops apt from starting services
CLUSTER = "dmsimtest"
PARTITION = "debug"


class Unavailable(RuntimeError):
    """The cluster cannot run on this machine (the message says why, in one line)."""


def missing_programs() -> list[str]:
    """Programs of :data:`PROGRAMS` not on PATH (sbin included)."""
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/sbin"
    return [p for p in PROGRAMS if shutil.which(p, path=path) is None]


def ensure_installed(timeout_s: float = 600) -> None:
    """Install Debian's SLURM, munge and MariaDB packages if a program is missing.

    apt must not start the packages' services (they would be daemons nobody recorded): a
    ``policy-rc.d`` that denies them is put in place for the install and removed after, unless
    the machine already has one.

    Raises:
        Unavailable: not root, no apt-get, or the install failed.
    """
    if not missing_programs():
        return
    with open(Path(tempfile.gettempdir()) / "dmsim-slurm-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test sessions at once: one installs, the other waits
        if missing_programs():
            _install(timeout_s)


def _install(timeout_s: float) -> None:
    if os.geteuid() != 0:
        raise Unavailable(f"SLURM is not installed ({', '.join(missing_programs())} missing) and installing it "
                          "needs root")
    if shutil.which("apt-get") is None:
        raise Unavailable("SLURM is not installed and this machine has no apt-get")
    ours = not POLICY_RC.exists()
    if ours:
        POLICY_RC.write_text("#!/bin/sh\n# dmsim tests: no services started while installing SLURM\nexit 101\n")
        POLICY_RC.chmod(0o755)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    try:
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout_s)
        if r.returncode != 0:  # stale package lists: refresh once
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=timeout_s)
            r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout_s)
        if r.returncode != 0:
            last = (r.stderr.strip().splitlines() or ["no message"])[-1]
            raise Unavailable(f"apt-get install {' '.join(PACKAGES)} failed: {last}")
    except subprocess.TimeoutExpired:
        raise Unavailable(f"apt-get install {' '.join(PACKAGES)} took more than {timeout_s:.0f} s") from None
    finally:
        if ours:
            POLICY_RC.unlink(missing_ok=True)
    if missing_programs():
        raise Unavailable(f"after installing, still missing: {', '.join(missing_programs())}")


def die_with_parent() -> None:
    """In a child before ``exec``: have the kernel send SIGTERM when the starting process dies.

    So a daemon never outlives a test session killed without clean-up (Linux ``PR_SET_PDEATHSIG``).
    """
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def free_port() -> int:
    """A TCP port nothing listens on now (the kernel's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def node_line() -> str:
    """``NodeName=... CPUs=... RealMemory=...`` of this machine, as slurmd measures it."""
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, timeout=30, check=True).stdout
    return out.splitlines()[0].strip()


@dataclass
class LocalSlurm:
    """A one-node SLURM cluster with accounting whose every process this object started.

    Attributes:
        root: the folder holding configuration, state, sockets and logs.
        def_mem_per_cpu_mb: memory a job gets per CPU when it asks for none (MB); without it a
            job is given the whole node and jobs run one at a time.
    """

    root: Path
    def_mem_per_cpu_mb: int = 1024
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        """Environment for SLURM's commands (sbatch, squeue, sacct …) to reach this cluster."""
        return {**os.environ, "SLURM_CONF": str(self.root / "slurm.conf")}

    def _spawn(self, name: str, cmd: list[str]) -> None:
        log = open(self.root / "log" / f"{name}.out", "ab")  # noqa: SIM115 - owned by the process
        # A new session: the daemon gets no terminal signals meant for pytest; its PID is recorded.
        self.procs[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                            start_new_session=True, preexec_fn=die_with_parent)
        log.close()

    def _wait(self, what: str, ok: Callable[[], bool], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for name, p in self.procs.items():
                if p.poll() is not None:
                    raise Unavailable(f"{name} exited with status {p.returncode} while waiting for {what}; "
                                      f"log: {self.root / 'log' / name}.out")
            if ok():
                return
            time.sleep(0.2)
        raise Unavailable(f"timed out after {timeout_s:.0f} s waiting for {what}; logs in {self.root / 'log'}")

    def _run(self, cmd: list[str], timeout_s: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout_s)

    def start(self, timeout_s: float = 60) -> LocalSlurm:
        """Write the configuration and start munged, mariadbd, slurmdbd, slurmctld and slurmd.

        Returns once the node is ``idle`` (ready for jobs).

        Raises:
            Unavailable: a daemon failed or the node was not idle within ``timeout_s`` (s); every
                process started so far is stopped first.
        """
        try:
            self._start(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout_s: float) -> None:
        r = self.root
        for sub in ("log", "munge", "db", "ctld", "spool", "run"):
            (r / sub).mkdir(parents=True, exist_ok=True)
        r.chmod(0o700)
        # munge: our own key and socket, so a system munged (if any) is not involved.
        key = r / "munge" / "munge.key"
        key.write_bytes(secrets.token_bytes(1024))
        key.chmod(0o600)
        sock = r / "munge" / "munge.socket"
        self._spawn("munged", ["munged", "--foreground", "--force", f"--key-file={key}", f"--socket={sock}",
                               f"--pid-file={r / 'run' / 'munged.pid'}", f"--log-file={r / 'log' / 'munged.log'}",
                               f"--seed-file={r / 'munge' / 'munged.seed'}"])
        # MariaDB: a private data folder, listening on 127.0.0.1 only.
        db_port, dbd_port, ctld_port, slurmd_port = (free_port() for _ in range(4))
        db_sock = r / "run" / "mysqld.sock"
        init = self._run(["mariadb-install-db", "--no-defaults", f"--datadir={r / 'db'}", "--user=root",
                          "--auth-root-authentication-method=normal", "--skip-test-db"], timeout_s=120)
        if init.returncode != 0:
            raise Unavailable(f"mariadb-install-db failed: {(init.stderr.strip().splitlines() or ['?'])[-1]}")
        self._spawn("mariadbd", ["mariadbd", "--no-defaults", f"--datadir={r / 'db'}", "--user=root",
                                 f"--socket={db_sock}", f"--port={db_port}", "--bind-address=127.0.0.1",
                                 "--skip-name-resolve", f"--pid-file={r / 'run' / 'mariadbd.pid'}",
                                 "--innodb-buffer-pool-size=32M", f"--log-error={r / 'log' / 'mariadbd.log'}"])
        self._wait("munged", lambda: sock.exists(), timeout_s)
        self._wait("mariadbd", lambda: db_sock.exists(), timeout_s)
        password = secrets.token_hex(12)
        sql = (f"CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '{password}'; "
               "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';")
        grant = self._run(["mariadb", "--no-defaults", f"--socket={db_sock}", "-u", "root", "-e", sql])
        if grant.returncode != 0:
            raise Unavailable(f"creating the accounting database user failed: {grant.stderr.strip()}")
        auth = f"AuthType=auth/munge\nAuthInfo=socket={sock}\n"
        dbd_conf = r / "slurmdbd.conf"  # beside slurm.conf: slurmdbd finds it there through SLURM_CONF
        dbd_conf.write_text(
            f"{auth}DbdHost=localhost\nDbdPort={dbd_port}\nSlurmUser=root\n"
            f"PidFile={r / 'run' / 'slurmdbd.pid'}\nLogFile={r / 'log' / 'slurmdbd.log'}\n"
            f"StorageType=accounting_storage/mysql\nStorageHost=127.0.0.1\nStoragePort={db_port}\n"
            f"StorageUser=slurm\nStoragePass={password}\nStorageLoc=slurm_acct_db\n")
        dbd_conf.chmod(0o600)  # slurmdbd refuses a readable file: it holds a password
        host = socket.gethostname().split(".")[0]
        node = node_line()
        (r / "slurm.conf").write_text(
            f"ClusterName={CLUSTER}\nSlurmctldHost={host}\nSlurmUser=root\n{auth}"
            f"SlurmctldPort={ctld_port}\nSlurmdPort={slurmd_port}\n"
            f"StateSaveLocation={r / 'ctld'}\nSlurmdSpoolDir={r / 'spool'}\n"
            f"SlurmctldPidFile={r / 'run' / 'slurmctld.pid'}\nSlurmdPidFile={r / 'run' / 'slurmd.pid'}\n"
            f"SlurmctldLogFile={r / 'log' / 'slurmctld.log'}\nSlurmdLogFile={r / 'log' / 'slurmd.log'}\n"
            "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n"  # no cgroups on this machine
            "SelectType=select/cons_tres\nSelectTypeParameters=CR_Core_Memory\n"
            f"DefMemPerCPU={self.def_mem_per_cpu_mb}\n"
            "AccountingStorageType=accounting_storage/slurmdbd\n"
            f"AccountingStoragePass={sock}\n"  # the munge socket for talking to slurmdbd (AuthInfo is not used)
            f"AccountingStorageHost=localhost\nAccountingStoragePort={dbd_port}\n"
            "JobAcctGatherType=jobacct_gather/none\nJobCompType=jobcomp/none\n"
            "MpiDefault=none\nReturnToService=2\nKillWait=2\nMailProg=/bin/true\n"
            "SlurmctldTimeout=30\nSlurmdTimeout=30\nInactiveLimit=0\nMinJobAge=300\n"
            f"{node} State=UNKNOWN\n"
            f"PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n")
        self._spawn("slurmdbd", ["slurmdbd", "-D"])
        self._wait("slurmdbd", lambda: self._run(["sacctmgr", "-n", "list", "cluster"]).returncode == 0, timeout_s)
        self._run(["sacctmgr", "-i", "add", "cluster", CLUSTER])  # slurmctld registers into it
        self._spawn("slurmctld", ["slurmctld", "-D", "-i"])
        self._spawn("slurmd", ["slurmd", "-D"])
        self._wait("the node to be idle", self._idle, timeout_s)

    def _idle(self) -> bool:
        r = self._run(["sinfo", "-h", "-o", "%T"])
        return r.returncode == 0 and r.stdout.strip() == "idle"

    def stop(self, timeout_s: float = 20) -> None:
        """Cancel this cluster's jobs, then end exactly the daemons this object started (TERM, then KILL)."""
        if self.procs.get("slurmctld") and self.procs["slurmctld"].poll() is None:
            self._run(["scancel", f"--cluster={CLUSTER}", "--full", "-u", str(os.geteuid())], timeout_s=10)
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                q = self._run(["squeue", "-h", "-o", "%i"], timeout_s=10)
                if q.returncode != 0 or not q.stdout.strip():
                    break
                time.sleep(0.3)
        # The order undoes the start: nodes first, the controller, accounting, its database, authentication.
        for name in ("slurmd", "slurmctld", "slurmdbd", "mariadbd", "munged"):
            p = self.procs.get(name)
            if p is None or p.poll() is not None:
                continue
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout_s)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout_s)
        self.procs.clear()


def main() -> None:
    """Bring a cluster up in DIR (default: a temporary folder) until Ctrl-C."""
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="dmsim-slurm-"))
    try:
        ensure_installed()
        t0 = time.monotonic()
        cluster = LocalSlurm(root.resolve()).start()
    except Unavailable as e:
        sys.exit(f"local_slurm: {e}")
    print(f"cluster up in {time.monotonic() - t0:.1f} s; in another shell:\n  export SLURM_CONF={root / 'slurm.conf'}"
          "\nCtrl-C stops it.", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # `kill PID` stops the cluster too
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
