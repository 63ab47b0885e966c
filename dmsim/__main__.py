"""Command line: ``python -m dmsim [+scenario=NAME] [key=value ...]`` (Hydra; ``-m`` sweeps)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from dmsim.cli import check_overrides
from dmsim.config import ConfigError, DMSimConfig, register_configs
from dmsim.run import format_summary, run


def _fail(err: Exception) -> None:
    print(f"dmsim: error: {err}", file=sys.stderr)
    sys.exit(2)


def to_typed(dcfg: DictConfig) -> DMSimConfig:
    """Typed config from Hydra's composed one; range checks run here."""
    try:
        return OmegaConf.to_object(dcfg)  # type: ignore[return-value]
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", "") or "config"
        raise ConfigError(key, getattr(e, "value", None), str(e).splitlines()[0]) from None


@hydra.main(version_base="1.3", config_path="../configs", config_name="config")
def _hydra_main(dcfg: DictConfig) -> None:
    logging.getLogger("MESA").setLevel(logging.WARNING)  # Mesa logs every step at INFO
    try:
        cfg = to_typed(dcfg)
    except ConfigError as e:
        _fail(e)
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    result = run(cfg, out_dir)
    if not cfg.output.quiet:
        print(format_summary(result.summary))
        print(f"  outputs in {out_dir}")


def main() -> None:
    """Check the overrides, then hand over to Hydra."""
    register_configs()
    try:
        check_overrides(sys.argv[1:])
    except ConfigError as e:
        _fail(e)
    _hydra_main()


if __name__ == "__main__":
    main()
