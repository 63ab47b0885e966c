"""Sweep progress and failures as they happen (a Hydra callback).

Each finished job appends one line to ``SWEEP_DIR/progress.log`` (works across joblib and
submitit workers: appends of short lines are atomic); each start or resume of the sweep appends
a ``# started`` line, so the log keeps every session. In a terminal, a status line shows
done/total, elapsed time and time left; in logs (stderr not a TTY) nothing is printed for
successes. A failed run is reported at once on stderr with its error and directory — Hydra
only raises the first failure after the whole batch has run.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

LOG = "progress.log"
TOTAL = ".progress_total"
START = "# started"


def jobs_done(log: Path) -> int:
    """Jobs ended since the last start of the sweep (lines after the last ``# started`` line)."""
    done = 0
    with open(log) as f:
        for line in f:
            done = 0 if line.startswith(START) else done + 1
    return done


def count_jobs(sweeper_params: dict[str, str], task_overrides: list[str]) -> int:
    """Number of jobs of a sweep: the product of the sweep lengths (command line wins)."""
    parser = OverridesParser.create()
    lengths: dict[str, int] = {}
    given = [f"{k}={v}" for k, v in (sweeper_params or {}).items()] + list(task_overrides)
    for o in parser.parse_overrides(given):  # later (command line) entries win
        lengths[o.key_or_group] = len(list(o.sweep_iterator())) if o.is_sweep_override() else 1
    return math.prod(lengths.values())


def _fmt(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class ProgressCallback(Callback):
    """Report sweep progress (terminal only) and failures (always)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Record the job count and start time beside the runs."""
        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        try:
            total = count_jobs(dict(config.hydra.sweeper.get("params") or {}), list(config.hydra.overrides.task))
        except Exception:  # noqa: BLE001 - progress is best effort; never stop a sweep for it
            total = 0
        (sweep_dir / TOTAL).write_text(f"{total} {time.time()}\n")
        with open(sweep_dir / LOG, "a") as f:  # appended: a resumed sweep keeps the earlier sessions' lines
            f.write(f"{START}\t{time.strftime('%Y-%m-%dT%H:%M:%S')}\t{total} jobs\n")

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        """Append this job's outcome; report a failure now; update the terminal line."""
        hc = config.hydra
        if str(hc.mode) != "RunMode.MULTIRUN" and "MULTIRUN" not in str(hc.mode):
            return
        sweep_dir = Path(hc.sweep.dir)
        run_dir = Path(hc.runtime.output_dir)
        failed = job_return.status == JobStatus.FAILED
        error = repr(job_return._return_value) if failed else ""
        with open(sweep_dir / LOG, "a") as f:
            f.write(f"{'failed' if failed else 'done'}\t{run_dir}\t{error}\n")
        if failed:
            print(f"\ndmsim: run failed: {run_dir}: {error}", file=sys.stderr, flush=True)
        if not sys.stderr.isatty():
            return
        try:
            total_s, start_s = (sweep_dir / TOTAL).read_text().split()
            total, start = int(total_s), float(start_s)
        except (OSError, ValueError):
            return
        done = jobs_done(sweep_dir / LOG)
        elapsed = time.time() - start
        left = elapsed / done * (total - done) if done and total else math.inf
        of = f"/{total}" if total else ""
        print(f"\rdmsim sweep: {done}{of} runs, elapsed {_fmt(elapsed)}, left {_fmt(left)}  ",
              end="" if done < total else "\n", file=sys.stderr, flush=True)
