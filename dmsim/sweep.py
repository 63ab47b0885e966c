"""A sweep folder holds one configuration family, of one model code.

Hydra re-runs a sweep in the same folder (``multirun/NAME``), and dmsim skips the runs that
finished. That is only safe if every run in the folder comes from the same configuration apart
from the swept keys, and from the same model code. :func:`check_sweep_manifest` records both in
``SWEEP_DIR/dmsim-sweep.json`` on the first run, and refuses, in one line, a re-run whose
configuration (under any swept scenario or strategy) or code differs — unless ``--force`` is
given, which redoes the runs in place.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

import dmsim
from dmsim.cli import job_config
from dmsim.config import ConfigError
from dmsim.outputs import SUMMARY, atomic_write

MANIFEST = "dmsim-sweep.json"
# Modules that do not change what a run computes or writes: the command line, analysis of
# finished runs and tools around the model. Everything else in the package is "model code".
NOT_MODEL_CODE = {"__main__.py", "cli.py", "sweep.py", "progress.py", "compare.py", "sensitivity.py",
                  "discovery.py", "dashboard.py", "bench.py", "reference.py", "ema.py", "paths.py"}
# Keys that do not change a run: what a sweep optimises is read from the finished summary.
NOT_RESULTS = ("objective",)


def code_version() -> str:
    """A hash of the package version and every model source file (configs are compared as values)."""
    root = Path(dmsim.__file__).resolve().parent
    digest = hashlib.sha256(dmsim.__version__.encode())
    files = sorted(p for p in root.rglob("*.py") if p.name not in NOT_MODEL_CODE and "__pycache__" not in p.parts)
    for path in files:
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _drop(tree: dict[str, Any], dotted: str) -> None:
    parts = dotted.lstrip("+~").split(".")
    node: Any = tree
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return
    if isinstance(node, dict):
        node.pop(parts[-1], None)


def family(dcfg: DictConfig, swept: list[str]) -> dict[str, Any]:
    """The resolved job configuration without Hydra's node, the swept keys and non-result keys."""
    job = job_config(dcfg)
    tree: dict[str, Any] = OmegaConf.to_container(job, resolve=True)  # type: ignore[assignment]
    for key in [*swept, *NOT_RESULTS]:
        _drop(tree, key)
    sample = tree.get("sample") or {}
    if sample.get("file") and Path(sample["file"]).is_file():
        sample["file_sha256"] = hashlib.sha256(Path(sample["file"]).read_bytes()).hexdigest()
    return tree


def first_difference(a: Any, b: Any, prefix: str = "") -> tuple[str, Any, Any] | None:
    """The first dotted key at which two nested configs differ, with both values (``None``: equal)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            d = first_difference(a.get(k, "(absent)"), b.get(k, "(absent)"), f"{prefix}{k}.")
            if d is not None:
                return d
        return None
    return None if a == b else (prefix.rstrip("."), a, b)


def check_sweep_manifest(sweep_dir: Path, configs: dict[str, DictConfig], swept: list[str], force: bool) -> None:
    """Refuse a sweep into a folder of another configuration family or code; record this one.

    Args:
        sweep_dir: the sweep folder.
        configs: the composed config of one job per swept scenario/strategy choice, by label.
        swept: the swept keys (excluded from the comparison).
        force: redo in place instead of refusing (``--force``): runs of other code lose their
            ``summary.json`` (so they run again); runs of another configuration are redone as
            their jobs come.

    Raises:
        ConfigError: one line naming the first difference.
    """
    path = sweep_dir / MANIFEST
    new = {"code": code_version(), "configs": {label: family(c, swept) for label, c in configs.items()}}
    old: dict[str, Any] = {"configs": {}}
    if path.is_file():
        old = json.loads(path.read_text())
        hint = "use another hydra.sweep.dir, or add --force to redo its runs in place"
        if old.get("code") != new["code"]:
            if not force:
                raise ConfigError("hydra.sweep.dir", str(sweep_dir),
                                  f"a folder of runs of this model code (they come from dmsim code "
                                  f"{old.get('code')}, this is {new['code']}); {hint}")
            for summary in sweep_dir.rglob(SUMMARY):
                summary.unlink()
        for label, tree in new["configs"].items():
            before = old["configs"].get(label)
            diff = first_difference(before, tree) if before is not None else None
            if diff is not None and not force:
                key, was, now = diff
                raise ConfigError("hydra.sweep.dir", str(sweep_dir),
                                  f"a folder of one configuration: under {label}, {key} was {was!r} in its "
                                  f"runs and is {now!r} now; {hint}")
    merged = {"code": new["code"], "configs": {**old["configs"], **new["configs"]}}
    atomic_write(path, lambda p: p.write_text(json.dumps(merged, indent=1, sort_keys=True) + "\n"))
