"""Command line: ``python -m dmsim [+scenario=NAME] [key=value ...]`` (Hydra; ``-m`` sweeps).

Every Hydra flag works as Hydra documents it (``--cfg job``, ``--info``, ``--config-dir``,
``--shell-completion`` …). dmsim adds one flag, ``--force``: redo runs in place in a folder that
holds finished runs of another configuration or of other model code (refused otherwise).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import math
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from dmsim.cli import (
    GROUPS,
    CommandLine,
    Composer,
    check_overrides,
    check_writable,
    compose_checked,
    environ_force,
    group_sweep_combinations,
    parse_command_line,
    representative_overrides,
    swept_keys,
    with_sweeper_params,
    writable_base,
)
from dmsim.config import ConfigError, DMSimConfig, register_configs
from dmsim.outputs import SUMMARY
from dmsim.run import apply_sample, finished_elsewhere, format_summary, is_finished, objective_value, run
from dmsim.sweep import check_sweep_manifest

FORCE = "--force"
LOCK = ".dmsim.lock"


def _fail(err: Exception, code: int = 2) -> None:
    print(f"dmsim: error: {err}", file=sys.stderr)
    sys.exit(code)


def to_typed(dcfg: DictConfig) -> DMSimConfig:
    """Typed config from Hydra's composed one; range checks run here."""
    try:
        return apply_sample(OmegaConf.to_object(dcfg))  # type: ignore[arg-type]
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", "") or "config"
        raise ConfigError(key, getattr(e, "value", None), str(e).splitlines()[0]) from None


@contextmanager
def run_lock(out_dir: Path) -> Iterator[bool]:
    """Hold an exclusive lock on a run folder while this process runs it; yield whether we got it.

    ``flock`` is released by the kernel when a process dies, so a killed run never blocks a
    resume, and a second sweep started beside the first skips the jobs the first is running
    (and never touches their temporary files).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(out_dir / LOCK, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


@hydra.main(version_base="1.3", config_path="configs", config_name="config")
def _hydra_main(dcfg: DictConfig) -> float | list[float]:
    logging.getLogger("MESA").setLevel(logging.WARNING)  # Mesa logs every step at INFO
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    try:
        cfg = to_typed(dcfg)
    except ConfigError as e:
        if multirun:
            raise  # fail this job only; the progress callback reports it, the sweep goes on
        _fail(e)
    out_dir = Path(hc.runtime.output_dir)
    with run_lock(out_dir) as mine:
        if not mine:
            print(f"dmsim: running in another process, skipped: {out_dir}")
            return math.nan
        if is_finished(out_dir, cfg):
            print(f"dmsim: finished already, skipped: {out_dir}")
            return objective_value(json.loads((out_dir / SUMMARY).read_text()), cfg.objective)
        if finished_elsewhere(out_dir, cfg) and not environ_force():
            err = ConfigError("run folder", str(out_dir), "a folder without another configuration's finished run "
                              f"(add {FORCE} to redo it in place)")
            if multirun:
                raise err
            _fail(err)
        try:
            result = run(cfg, out_dir)
        except OSError as e:  # disk full, permissions, quota: one line, not a traceback
            err = ConfigError("output folder", str(out_dir), f"a folder this process can write ({e.strerror or e})")
            if multirun:
                raise err from None
            _fail(err, 1)
    if not cfg.output.quiet:
        print(format_summary(result.summary))
        print(f"  outputs in {out_dir}")
    return objective_value(result.summary, cfg.objective)


def stable_sweep_dir(overrides: list[str]) -> str:
    """A sweep directory that depends only on what is swept, so a re-run finds its runs.

    ``multirun/NAME`` for ``+experiment=NAME``, else ``multirun/sweep-HASH`` of the sorted
    non-Hydra overrides (the launcher does not change results, so it does not change the name).
    """
    over = sorted(a for a in overrides if not a.startswith(("-", "hydra")))
    for a in over:
        if a.startswith("+experiment="):
            return f"multirun/{a.split('=', 1)[1]}"
    digest = hashlib.sha1("\n".join(over).encode()).hexdigest()[:10]
    return f"multirun/sweep-{digest}"


def _given(overrides: list[str], key: str) -> str | None:
    for o in overrides:
        if o.split("=", 1)[0].lstrip("+~") == key and "=" in o:
            return o.split("=", 1)[1]
    return None


def prepare(cl: CommandLine, force: bool) -> list[str]:
    """Check everything before Hydra starts; return the arguments to hand to Hydra.

    Nothing is written for a refused command. A sweep gets a stable folder and a manifest of
    the configuration family it holds (see :mod:`dmsim.sweep`).
    """
    argv = list(sys.argv[1:])
    if cl.informational:
        return argv
    composer = Composer(cl.flags.config_dir, cl.flags.config_name)
    parsed = check_overrides(cl.overrides, composer)
    first = compose_checked(composer, representative_overrides(parsed))
    if cl.multirun:
        parsed = with_sweeper_params(parsed, first[0])  # an experiment's own sweep
        combos = group_sweep_combinations(parsed)
        composed = [compose_checked(composer, c) for c in combos]
    else:
        combos, composed = [representative_overrides(parsed)], [first]
    if cl.flags.cfg or cl.flags.info:
        return argv  # Hydra prints and exits
    auto = [typed for dcfg, typed in composed if OmegaConf.select(dcfg, "policy.budget_usd") == 0
            and typed.policy.budget_usd > 0]
    if auto:
        cost = f"{auto[0].policy.budget_usd:,.0f} USD" if len(composed) == 1 else "per run"
        print(f"dmsim: policy.budget_usd not given: the budget is the strategies' planned public cost ({cost})",
              file=sys.stderr)
    if cl.multirun:
        sweep_dir = _given(cl.overrides, "hydra.sweep.dir")
        if sweep_dir is None:
            # Absolute: workers on another machine or cwd (a Ray cluster's) write where the driver reads.
            sweep_dir = str(Path(stable_sweep_dir(cl.overrides)).resolve())
            argv.append(f"hydra.sweep.dir={sweep_dir}")
        if "${" not in sweep_dir:
            check_writable(Path(sweep_dir).parent)
            groups = [" ".join(o for o in c if o.lstrip("+~").split("=", 1)[0] in GROUPS) or "(defaults)"
                      for c in combos]
            check_sweep_manifest(Path(sweep_dir), dict(zip(groups, [d for d, _ in composed], strict=True)),
                                 swept_keys(parsed), force)
    else:
        run_dir = _given(cl.overrides, "hydra.run.dir") or str(composed[0][0].hydra.run._get_node("dir")._value())
        if "${" not in run_dir and finished_elsewhere(Path(run_dir), composed[0][1]) and not force:
            raise ConfigError("hydra.run.dir", run_dir, f"a folder without another configuration's finished run "
                              f"(add {FORCE} to redo it in place)")
        check_writable(writable_base(run_dir))
    return argv


def lost_job_message(e: BaseException) -> str | None:
    """One line for a launcher's lost job (cancelled, killed or timed-out SLURM job, dead Ray worker), else None."""
    kind, text = type(e).__module__, str(e).strip()
    if kind.startswith("submitit"):  # UncompletedJobError, FailedJobError
        job = re.search(r"Job (\S+) \(task", text)
        state = re.search(r"\(state: ([^)]*)\)", text)
        where = re.search(r"with path (\S+)/[^/\s]+", text)
        what = f"SLURM job {job.group(1) if job else '?'} ended without a result"
        what += f" (state: {state.group(1)})" if state else ""
        log = f"; its logs: {where.group(1)}" if where else ""
    elif kind.startswith("ray"):
        what, log = f"a Ray task failed: {type(e).__name__}: {text.splitlines()[0] if text else ''}", ""
    else:
        return None
    return f"sweep stopped: {what}{log}; finished runs are kept: run the same command again to do the others"


def main() -> None:
    """Check the command line, then hand over to Hydra."""
    register_configs()
    force = FORCE in sys.argv[1:]
    sys.argv = [a for a in sys.argv if a != FORCE]
    try:
        cl = parse_command_line(sys.argv[1:])
        argv = prepare(cl, force)
    except ConfigError as e:
        _fail(e)
    if force:
        os.environ["DMSIM_FORCE"] = "1"  # jobs may run in other processes (joblib, submitit)
    sys.argv = [sys.argv[0], *argv]
    ours = cl.multirun and "HYDRA_FULL_ERROR" not in os.environ
    if ours:  # a launcher's exception then reaches dmsim instead of Hydra's traceback printer
        os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        _hydra_main()
    except Exception as e:  # noqa: BLE001 - a lost cluster job becomes one line; the rest as Hydra reports it
        message = lost_job_message(e)
        if message is not None:
            _fail(message, 1)
        if not ours:
            raise
        os.environ.pop("HYDRA_FULL_ERROR")
        from hydra._internal.utils import run_and_report

        failure = e

        def reraise() -> None:
            raise failure

        run_and_report(reraise)  # any other failure: Hydra's own short report, as before


if __name__ == "__main__":
    main()
