"""The command line's early checks, so bad or unsafe input stops with one line and writes nothing.

Hydra's own errors for an unknown key or a bad value span several lines and only surface after
a run directory exists. Before Hydra starts, :func:`check_command_line` reads the arguments
with Hydra's own argument parser (so every Hydra flag — ``--cfg job``, ``--info``,
``--config-dir DIR``, ``--config-name``, ``--shell-completion`` … — keeps its meaning), then:

1. parses the overrides with Hydra's parser and refuses a key given twice, a ``_target_``
   anywhere, and ``hydra.*`` overrides outside the documented ones (run and sweep folders,
   launcher, sweeper, job name and settings, search path, logging, help);
2. tries every value (every value of a sweep; the bounds of an ``interval``) against the typed
   schema, and every config-group choice against the options on Hydra's whole search path;
3. composes the configuration exactly as Hydra will (the first value of every sweep) and
   validates the typed result — scenario, strategy and experiment files included — and the
   composed Hydra node (no callbacks but dmsim's own, no code targets outside Hydra's plugins,
   no environment or setup commands).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep, Override
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from dmsim.config import ConfigError, DMSimConfig

CONFIG_DIR = Path(__file__).resolve().parent / "configs"  # inside the package, so an installed wheel has them
GROUPS = ("scenario", "strategy", "experiment", "shock", "context")
CONFIG_NAME = "config"

# ``hydra.*`` keys a user may override (prefixes), and Hydra config groups they may choose.
HYDRA_KEYS = ("hydra.run.", "hydra.sweep.", "hydra.launcher.", "hydra.sweeper.", "hydra.job.name",
              "hydra.job.chdir", "hydra.job.config.", "hydra.job.config_name", "hydra.searchpath",
              "hydra.verbose", "hydra.mode", "hydra.output_subdir", "hydra.job_logging.",
              "hydra.hydra_logging.", "hydra.help.", "hydra.hydra_help.")
HYDRA_GROUPS = ("hydra/launcher", "hydra/sweeper", "hydra/sweeper/sampler", "hydra/job_logging",
                "hydra/hydra_logging", "hydra/help", "hydra/hydra_help", "hydra/env")
# Keys that run commands or change the environment of a job: never from a command line or a file.
UNSAFE_KEYS = ("_target_", "setup", "env_set", "env_copy")
# Code targets a composed Hydra node may hold: Hydra's plugins and dmsim's progress callback.
SAFE_TARGET_PREFIXES = ("hydra_plugins.", "hydra.", "optuna.")
CALLBACKS = {"progress": "dmsim.progress.ProgressCallback"}


@dataclass
class CommandLine:
    """The arguments of ``python -m dmsim``, as Hydra's own parser reads them."""

    flags: argparse.Namespace
    overrides: list[str] = field(default_factory=list)

    @property
    def multirun(self) -> bool:
        """Whether this is a sweep (``-m``)."""
        return bool(self.flags.multirun)

    @property
    def informational(self) -> bool:
        """Help, version and shell completion: Hydra answers them; nothing runs."""
        return bool(self.flags.help or self.flags.hydra_help or self.flags.shell_completion)


def parse_command_line(argv: list[str]) -> CommandLine:
    """Split ``argv`` into Hydra's flags and the overrides (Hydra's own argument parser)."""
    from hydra._internal.utils import get_args_parser

    parser = get_args_parser()
    parser.exit_on_error = False
    try:
        flags = parser.parse_args(argv)
    except (argparse.ArgumentError, SystemExit) as e:
        raise ConfigError("argument", " ".join(argv), f"Hydra's command-line flags ({e})") from None
    modes = [name for name, on in (("--run", flags.run), ("--multirun", flags.multirun), ("--cfg", flags.cfg),
                                   ("--info", flags.info), ("--shell-completion", flags.shell_completion)) if on]
    if len(modes) > 1:  # Hydra refuses this too, with a traceback
        raise ConfigError("argument", " ".join(modes), "only one of --run, --multirun, --cfg, --info and "
                          "--shell-completion")
    return CommandLine(flags, list(flags.overrides or []))


def _search_path(config_dir: str | None = None) -> Any:
    """Hydra's config search path: dmsim's configs, Hydra's and its plugins', ``--config-dir``."""
    from hydra._internal.utils import create_config_search_path
    from hydra.core.config_search_path import SearchPathQuery

    search_path = create_config_search_path(f"file://{CONFIG_DIR}")
    if config_dir is not None:
        path = Path(config_dir).resolve()
        if not path.is_dir():
            raise ConfigError("--config-dir", config_dir, "an existing directory")
        search_path.prepend(provider="command-line", path=f"file://{path}",
                            anchor=SearchPathQuery(provider="schema"))
    return search_path


class Composer:
    """Hydra's config loader over dmsim's search path, without starting an application."""

    def __init__(self, config_dir: str | None = None, config_name: str | None = None) -> None:
        from hydra._internal.config_loader_impl import ConfigLoaderImpl

        from dmsim.config import register_configs

        register_configs()
        self.loader = ConfigLoaderImpl(config_search_path=_search_path(config_dir))
        self.config_name = config_name or CONFIG_NAME

    def options(self, group: str, overrides: list[str] | None = None) -> list[str]:
        """Names of the configs of a group on the whole search path."""
        try:
            return sorted(self.loader.get_group_options(group, config_name=self.config_name,
                                                        overrides=[o for o in overrides or [] if
                                                                   o.startswith("hydra.searchpath")]))
        except HydraException:
            return []

    def file_of(self, group: str, name: str) -> Path | None:
        """The YAML file of a group option, if it is a file on the search path."""
        for source in self.loader.repository.get_sources():
            path = getattr(source, "path", "")
            if source.scheme() == "file" and (Path(path) / group / f"{name}.yaml").is_file():
                return Path(path) / group / f"{name}.yaml"
        return None

    def compose(self, overrides: list[str]) -> DictConfig:
        """The composed config (Hydra node included) of one run with these overrides."""
        from hydra.types import RunMode

        return self.loader.load_configuration(config_name=self.config_name, overrides=overrides,
                                              run_mode=RunMode.RUN)


def group_options(group: str) -> list[str]:
    """Names of the configs available in a config group (``dmsim/configs/<group>/*.yaml``)."""
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
    """Type- and range-check one value of one key against the schema (alone)."""
    cfg = OmegaConf.structured(DMSimConfig)
    OmegaConf.set_struct(cfg, True)
    try:
        OmegaConf.update(cfg, key, value, merge=True)
    except OmegaConfBaseException as e:
        if "not in struct" in str(e) or "Missing key" in str(e) or "Key '" in str(e):
            if key.split(".")[0] in ("strategies", "products") and key.count(".") >= 2:
                return  # an entry a config file adds (+strategy=NAME): checked once composed
            known = _siblings(key)
            parent = key.rsplit(".", 1)[0] + "." if "." in key else ""
            hint = f"known keys: {', '.join(parent + k for k in known)}" if known else "no such key"
            raise ConfigError(key, value, f"unknown key; {hint}") from None
        raise ConfigError(key, value, f"must be of type {_field_type(key)}") from None
    if isinstance(value, str) and "${" in value:
        return  # an interpolation: checked once the whole config is composed (it may name other keys)
    OmegaConf.to_object(cfg)  # range checks (ConfigError naming the key)


def _check_yaml(path: Path, group: str, name: str) -> None:
    """A config file of a group must be valid YAML (Hydra's own error is long)."""
    try:
        yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "parse error"
        raise ConfigError(group, name, f"a valid YAML file ({path} is malformed at {where})") from None


def _values(o: Override) -> list[Any]:
    """The values an override takes: one, every value of a sweep, or an interval's bounds."""
    if not o.is_sweep_override():
        return [o.value()]
    value = o.value()
    if isinstance(value, IntervalSweep):
        return [value.start, value.end]  # the sweeper draws inside; the bounds must be allowed
    try:
        return list(o.sweep_iterator())
    except HydraException:
        return []  # a sweep only its sweeper can enumerate: the sweeper's values are checked per job


def _first_value(o: Override) -> str:
    """The override with a sweep replaced by its first value (what one job of it would get)."""
    values = _values(o)
    if not o.is_sweep_override() or not values:
        return o.input_line or f"{o.get_key_element()}={o.get_value_element_as_str()}"
    return f"{o.get_key_element()}={o._get_value_element_as_str(values[0])}"


def _check_hydra_key(o: Override) -> None:
    key = o.key_or_group
    if o.is_hydra_override() and "/" not in key:
        if not key.startswith(HYDRA_KEYS) and key not in {k.rstrip(".") for k in HYDRA_KEYS}:
            raise ConfigError(key, o.get_value_element_as_str(),
                              "only Hydra's run/sweep folders, launcher, sweeper, job, search path, "
                              "logging and help settings may be overridden")
    elif key.startswith("hydra/") and key not in HYDRA_GROUPS:
        raise ConfigError(key, o.get_value_element_as_str(), f"one of the groups {', '.join(HYDRA_GROUPS)}")


def _walk(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every (dotted key, leaf value) of a plain nested dict/list."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, f"{prefix}{k}.")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, f"{prefix}{i}.")
    else:
        yield prefix.rstrip("."), node


def check_composed(dcfg: DictConfig) -> None:
    """Refuse a composed config that would run code, set a job's environment, or add callbacks.

    Applies to everything that composed it: command line, scenario, strategy, experiment files and
    any file on the search path (``--config-dir``).
    """
    hydra_node = dcfg.get("hydra") if "hydra" in dcfg else None
    callbacks = (hydra_node or {}).get("callbacks") or {}
    for name in callbacks:
        target = OmegaConf.select(callbacks, f"{name}._target_", default=None)
        if CALLBACKS.get(name) != target:
            raise ConfigError(f"hydra.callbacks.{name}", target, "no callbacks but dmsim's own (progress)")
    for key, value in _walk(OmegaConf.to_container(dcfg, resolve=False)):
        last = key.rsplit(".", 1)[-1]
        if last == "_target_":
            if key.startswith("hydra.callbacks."):
                continue  # checked above
            if not key.startswith("hydra.") or not str(value).startswith(SAFE_TARGET_PREFIXES):
                raise ConfigError(key, value, "no code targets in a configuration (only Hydra's plugins)")
    for key in ("hydra.job.env_set", "hydra.job.env_copy", "hydra.launcher.setup"):
        value = OmegaConf.select(dcfg, key, default=None)
        if value:
            raise ConfigError(key, OmegaConf.to_container(value) if not isinstance(value, str) else value,
                              "no commands or environment for jobs in a configuration")


def check_overrides(args: list[str], composer: Composer | None = None, unique: bool = True) -> list[Override]:
    """Raise :class:`ConfigError` for the first bad override in ``args`` (one clear line).

    ``args`` are overrides (Hydra flags are left out by :func:`parse_command_line`); returns them
    parsed. ``unique``: a key given twice is refused (the command line); ``False`` lets the last
    one win, as Hydra does (``compose_config``, where code builds override lists from parts).
    """
    overrides = [a for a in args if not a.startswith("-")]
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as e:
        first = str(e).strip().splitlines()[0]
        raise ConfigError("override", " ".join(overrides), f"not valid override syntax ({first})") from None
    seen: dict[str, str] = {}
    for o in parsed:
        key = o.key_or_group
        text = o.input_line or key
        if key in seen and unique:
            raise ConfigError(key, o.get_value_element_as_str(),
                              f"a key given once ({seen[key]!r} and {text!r} both set it)")
        seen[key] = text
        if any(part in UNSAFE_KEYS for part in key.replace("/", ".").split(".")):
            raise ConfigError(key, o.get_value_element_as_str(),
                              "no code targets, commands or job environment from the command line")
        if key.startswith("hydra"):
            _check_hydra_key(o)
            continue
        if o.is_delete():
            continue
        values = _values(o)
        if key in GROUPS:
            composer = composer or Composer()
            options = composer.options(key, overrides)
            for v in values:
                for name in v if isinstance(v, list) else [v]:
                    if name not in options:
                        allowed = f"one of {', '.join(options)}" if options else f"no {key} configs exist yet"
                        raise ConfigError(key, name, allowed)
                    path = composer.file_of(key, str(name))
                    if path is not None:
                        _check_yaml(path, key, str(name))
            continue
        for v in values:
            _try_value(key, v)
    return parsed


def representative_overrides(parsed: list[Override]) -> list[str]:
    """One job's overrides: every sweep at its first value (for composing and validating)."""
    return [_first_value(o) for o in parsed]


def group_sweep_combinations(parsed: list[Override]) -> list[list[str]]:
    """Overrides of one job per combination of swept config groups, other sweeps at their first value.

    A sweep over scenarios or strategies changes many keys at once: each choice is composed.
    """
    fixed = [(o, [_first_value(o)]) for o in parsed if not (o.is_sweep_override() and o.key_or_group in GROUPS)]
    swept = [(o, [f"{o.get_key_element()}={o._get_value_element_as_str(v)}" for v in _values(o)])
             for o in parsed if o.is_sweep_override() and o.key_or_group in GROUPS]
    combos = itertools.product(*[choices for _, choices in swept]) if swept else [()]
    return [[c[0] for _, c in fixed] + list(combo) for combo in combos]


def with_sweeper_params(parsed: list[Override], dcfg: DictConfig) -> list[Override]:
    """The command line's overrides plus the sweeper's ``params`` (an experiment's sweep); the command line wins."""
    params = OmegaConf.select(dcfg, "hydra.sweeper.params", default=None) or {}
    given = {o.key_or_group for o in parsed}
    lines = [f"{k}={v}" for k, v in params.items() if str(k).lstrip("+~") not in given]
    if not lines:
        return parsed
    try:
        extra = OverridesParser.create().parse_overrides(lines)
    except HydraException as e:
        raise ConfigError("hydra.sweeper.params", " ".join(lines), f"valid sweep syntax ({e})") from None
    for o in extra:
        if o.key_or_group in GROUPS or o.key_or_group.startswith("hydra"):
            continue
        for v in _values(o):
            _try_value(o.key_or_group, v)
    return [*parsed, *extra]


def swept_keys(parsed: list[Override]) -> list[str]:
    """Keys a sweep varies, config groups excluded (their effect is composed per choice)."""
    return sorted(o.key_or_group for o in parsed if o.is_sweep_override() and o.key_or_group not in GROUPS)


def compose_checked(composer: Composer, overrides: list[str]) -> tuple[DictConfig, DMSimConfig]:
    """Compose one job's config as Hydra will and validate it; one line for any failure."""
    from dmsim.run import apply_sample

    try:
        dcfg = composer.compose(overrides)
    except HydraException as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError("config", " ".join(overrides) or "(defaults)",
                          f"a configuration Hydra can compose ({first})") from None
    check_composed(dcfg)
    job = job_config(dcfg)
    try:
        typed = apply_sample(OmegaConf.to_object(job))  # type: ignore[arg-type]
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", "") or "config"
        raise ConfigError(key, getattr(e, "value", None), str(e).splitlines()[0]) from None
    return dcfg, typed


def job_config(dcfg: DictConfig) -> DictConfig:
    """The job's part of a composed config (Hydra's node removed), as Hydra hands it to a task."""
    import copy

    from omegaconf import open_dict, read_write

    job = copy.deepcopy(dcfg)
    with read_write(job), open_dict(job):
        job.pop("hydra", None)
    return job


def writable_base(path_pattern: str) -> Path:
    """The part of an output-folder pattern before its first interpolation (``outputs/``)."""
    head = path_pattern.split("${", 1)[0]
    base = Path(head) if head.endswith("/") or not head else Path(head).parent
    return base if str(base) not in ("", ".") else Path(".")


def check_writable(path: Path) -> None:
    """Refuse, in one line, a folder this process cannot create or write into."""
    import tempfile

    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".dmsim-probe-"):
            pass
    except OSError as e:
        raise ConfigError("output folder", str(path), f"a folder this process can write ({e.strerror})") from None


def environ_force() -> bool:
    """Whether ``--force`` was given (passed to jobs, also in other processes, through the environment)."""
    return os.environ.get("DMSIM_FORCE") == "1"
