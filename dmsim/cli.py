"""Early checks of command-line overrides, so bad input stops with one clear line.

Hydra's own errors for an unknown key or a bad value span several lines and only surface
after a run directory exists. These checks run before Hydra starts: each override is parsed
with Hydra's parser and tried against the typed schema, and each config-group choice is
checked against the files in ``configs/``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from dmsim.config import ConfigError, DMSimConfig

CONFIG_DIR = Path(__file__).resolve().parent / "configs"  # inside the package, so an installed wheel has them
GROUPS = ("scenario", "strategy", "experiment")


def group_options(group: str) -> list[str]:
    """Names of the configs available in a config group (``configs/<group>/*.yaml``)."""
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))


def _field_type(key: str) -> str:
    """The schema type of a dotted key, for error messages."""
    node: Any = DMSimConfig
    for part in key.split("."):
        if dataclasses.is_dataclass(node):
            types = {f.name: f.type for f in dataclasses.fields(node)}
            node = types.get(part, "")
            if isinstance(node, str):  # postponed annotations: resolve our own names
                import dmsim.config as c

                node = getattr(c, node, node)
        else:
            return str(node)
    return getattr(node, "__name__", str(node))


def _siblings(key: str) -> list[str]:
    """Valid keys next to ``key`` (same parent), for "did you mean" lists."""
    parent = key.rsplit(".", 1)[0] if "." in key else ""
    node = OmegaConf.structured(DMSimConfig)
    if parent:
        node = OmegaConf.select(node, parent, default=None)
    return sorted(node.keys()) if node is not None and hasattr(node, "keys") else []


def _try_value(key: str, value: Any) -> None:
    cfg = OmegaConf.structured(DMSimConfig)
    OmegaConf.set_struct(cfg, True)
    try:
        OmegaConf.update(cfg, key, value, merge=True)
    except OmegaConfBaseException as e:
        if "not in struct" in str(e) or "Missing key" in str(e) or "Key '" in str(e):
            known = _siblings(key)
            parent = key.rsplit(".", 1)[0] + "." if "." in key else ""
            hint = f"known keys: {', '.join(parent + k for k in known)}" if known else "no such key"
            raise ConfigError(key, value, f"unknown key; {hint}") from None
        raise ConfigError(key, value, f"must be of type {_field_type(key)}") from None
    OmegaConf.to_object(cfg)  # range checks (ConfigError naming the key)


def _check_yaml(group: str, name: str) -> None:
    """A config file of a group must at least be valid YAML (Hydra's own error is long)."""
    path = CONFIG_DIR / group / f"{name}.yaml"
    try:
        yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "parse error"
        raise ConfigError(group, name, f"a valid YAML file ({path} is malformed at {where})") from None


def check_overrides(args: list[str]) -> None:
    """Raise :class:`ConfigError` for the first bad override in ``args`` (one clear line)."""
    overrides = [a for a in args if not a.startswith("-")]
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as e:
        first = str(e).strip().splitlines()[0]
        raise ConfigError("override", " ".join(overrides), f"not valid override syntax ({first})") from None
    for o in parsed:
        key = o.key_or_group
        if key.startswith("hydra") or o.is_delete():
            continue
        values = list(o.sweep_iterator()) if o.is_sweep_override() else [o.value()]
        if key in GROUPS:
            options = group_options(key)
            for v in values:
                for name in v if isinstance(v, list) else [v]:
                    if name not in options:
                        allowed = f"one of {', '.join(options)}" if options else f"no {key} configs exist yet"
                        raise ConfigError(key, name, allowed)
                    _check_yaml(key, name)
            continue
        for v in values:
            _try_value(key, v)
