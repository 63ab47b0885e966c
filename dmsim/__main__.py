"""Command line: ``python -m dmsim [+scenario=NAME] [key=value ...]`` (Hydra; ``-m`` sweeps)."""

from __future__ import annotations

import hashlib
import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from dmsim.cli import check_overrides
from dmsim.config import ConfigError, DMSimConfig, register_configs
from dmsim.run import apply_sample, format_summary, is_finished, run


def _fail(err: Exception) -> None:
    print(f"dmsim: error: {err}", file=sys.stderr)
    sys.exit(2)


def to_typed(dcfg: DictConfig) -> DMSimConfig:
    """Typed config from Hydra's composed one; range checks run here."""
    try:
        return apply_sample(OmegaConf.to_object(dcfg))  # type: ignore[arg-type]
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", "") or "config"
        raise ConfigError(key, getattr(e, "value", None), str(e).splitlines()[0]) from None


@hydra.main(version_base="1.3", config_path="configs", config_name="config")
def _hydra_main(dcfg: DictConfig) -> None:
    logging.getLogger("MESA").setLevel(logging.WARNING)  # Mesa logs every step at INFO
    hc = HydraConfig.get()
    try:
        cfg = to_typed(dcfg)
    except ConfigError as e:
        if hc.mode == RunMode.MULTIRUN:
            raise  # fail this job only; the progress callback reports it, the sweep goes on
        _fail(e)
    out_dir = Path(hc.runtime.output_dir)
    if is_finished(out_dir, cfg):
        print(f"dmsim: finished already, skipped: {out_dir}")
        return
    result = run(cfg, out_dir)
    if not cfg.output.quiet:
        print(format_summary(result.summary))
        print(f"  outputs in {out_dir}")


def stable_sweep_dir(args: list[str]) -> str:
    """A sweep directory that depends only on what is swept, so a re-run finds its runs.

    ``multirun/NAME`` for ``+experiment=NAME``, else ``multirun/sweep-HASH`` of the sorted
    non-Hydra overrides (the launcher does not change results, so it does not change the name).
    """
    over = sorted(a for a in args if not a.startswith(("-", "hydra")))
    for a in over:
        if a.startswith("+experiment="):
            return f"multirun/{a.split('=', 1)[1]}"
    digest = hashlib.sha1("\n".join(over).encode()).hexdigest()[:10]
    return f"multirun/sweep-{digest}"


def main() -> None:
    """Check the overrides, then hand over to Hydra."""
    register_configs()
    args = sys.argv[1:]
    try:
        check_overrides(args)
    except ConfigError as e:
        _fail(e)
    if ("-m" in args or "--multirun" in args) and not any(a.startswith("hydra.sweep.dir=") for a in args):
        sys.argv.append(f"hydra.sweep.dir={stable_sweep_dir(args)}")
    _hydra_main()


if __name__ == "__main__":
    main()
