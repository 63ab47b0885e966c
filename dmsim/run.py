"""The real work of one run, as a plain function: ``run(cfg, out_dir) -> RunResult``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from omegaconf import OmegaConf

from dmsim.config import SERVICES, ConfigError, DMSimConfig
from dmsim.metrics import summarise
from dmsim.model import DMModel
from dmsim.outputs import CONFIG, SUMMARY, write_run


@dataclass
class RunResult:
    """A finished run: the model, its time series and its summary."""

    model: DMModel
    timeseries: pd.DataFrame
    summary: dict[str, Any]


def run(cfg: DMSimConfig, out_dir: Path | None = None) -> RunResult:
    """Simulate ``cfg.steps`` months; write the outputs into ``out_dir`` if given."""
    model = DMModel(cfg)
    model.run()
    df = model.metrics.frame()
    summary = summarise(df, cfg.seed, cfg.scenario, list(cfg.strategies))
    if cfg.output.counterfactual:
        summary.update(against_centralised(cfg, summary))
    if out_dir is not None:
        snaps = model.metrics.snapshots
        write_run(Path(out_dir), config_yaml(cfg), df, summary, dashboard=cfg.output.dashboard,
                  snapshots=pd.concat(snaps, ignore_index=True) if snaps else None)
    return RunResult(model, df, summary)


def centralised_twin(cfg: DMSimConfig) -> DMSimConfig:
    """The same world without distributed manufacturing: the counterfactual of a run.

    Region, seed, products, buyers and import conditions (tariffs included) stay as they are;
    there are no workshops, no entrants, no service providers and no public programmes for them.
    """
    node = OmegaConf.structured(cfg)
    for key, value in [("workshops.initial", 0), ("workshops.entry_prospects_per_million_per_month", 0.0),
                       ("policy.provider_subsidy_share", 0.0), ("output.counterfactual", False),
                       ("scenario", "centralised")]:
        OmegaConf.update(node, key, value)
    for s in SERVICES:
        OmegaConf.update(node, f"services.{s}.seeded_providers", 0)
        OmegaConf.update(node, f"services.{s}.global_provider", False)
    node.strategies = {}
    return OmegaConf.to_object(node)  # type: ignore[return-value]


def against_centralised(cfg: DMSimConfig, summary: dict[str, Any]) -> dict[str, Any]:
    """Benefit and cost of this run against its centralised twin (same seed), in USD.

    Benefit, over the whole run, is the change in social surplus: consumer surplus (on what
    buyers got; procurement preferences excluded) + local factor incomes (wages, profits and
    margins; rent, power, transport and trade count at cost) net of what the local people
    employed could have earned otherwise (``labour_shadow_cost_usd_total``: wages at the shadow
    wage factors, owners at their outside option) + tariff revenue (the public purse loses the
    duty on imports that DM replaces). Cost is the change in public spend. The ratio is ``None``
    without a cost.
    """
    twin = summarise(DMModel(centralised_twin(cfg)).run_frame(), cfg.seed, "centralised")

    def delta(key: str) -> float:
        return summary[key] - twin[key]

    surplus = delta("consumer_surplus_usd_total")
    local = delta("local_factor_income_usd_total") - delta("labour_shadow_cost_usd_total")
    tariffs = delta("tariff_revenue_usd_total")
    benefit = delta("social_surplus_usd_total")  # = surplus + local + tariffs
    cost = delta("public_spend_usd_total")
    return {
        "benefit_vs_centralised_usd": benefit,
        "consumer_surplus_vs_centralised_usd": surplus,
        "local_net_value_vs_centralised_usd": local,
        "tariff_revenue_vs_centralised_usd": tariffs,
        "public_cost_vs_centralised_usd": cost,
        "benefit_cost_ratio": benefit / cost if cost > 0 else None,
        "emissions_saved_vs_centralised_t_co2": twin["emissions_t_co2_total"] - summary["emissions_t_co2_total"],
    }


def config_yaml(cfg: DMSimConfig) -> str:
    """The resolved configuration as written to a run's ``config.yaml``."""
    return OmegaConf.to_yaml(OmegaConf.structured(cfg), resolve=True)


def is_finished(out_dir: Path, cfg: DMSimConfig) -> bool:
    """Whether ``out_dir`` holds a finished run of exactly this config (resume a sweep).

    Finished means ``summary.json`` exists — it is written last, atomically — and the
    ``config.yaml`` beside it matches ``cfg``.
    """
    out_dir = Path(out_dir)
    if not (out_dir / SUMMARY).is_file() or not (out_dir / CONFIG).is_file():
        return False
    return _results_config(yaml.safe_load((out_dir / CONFIG).read_text())) == _results_config(
        yaml.safe_load(config_yaml(cfg)))


def finished_elsewhere(out_dir: Path, cfg: DMSimConfig) -> bool:
    """Whether ``out_dir`` holds a finished run of another configuration (never overwritten unasked)."""
    out_dir = Path(out_dir)
    return (out_dir / SUMMARY).is_file() and not is_finished(out_dir, cfg)


def _results_config(tree: dict[str, Any]) -> dict[str, Any]:
    """A run's config without the keys that do not change its results (``objective``)."""
    return {k: v for k, v in (tree or {}).items() if k != "objective"}


def objective_value(summary: dict[str, Any], objective: str) -> float | list[float]:
    """What the task function returns to a Hydra sweeper: the ``objective`` summary key(s).

    ``objective`` is one summary key or several separated by commas (a multi-objective study,
    e.g. ``tipped,public_spend_usd_total``); booleans count 0/1; a missing value is NaN.
    """
    keys = [k.strip() for k in objective.split(",") if k.strip()]
    unknown = [k for k in keys if k not in summary]
    if unknown:
        raise ConfigError("objective", objective, f"summary keys, e.g. {', '.join(sorted(summary)[:6])}, ...")
    values = [math.nan if summary[k] is None else float(summary[k]) for k in keys]
    return values[0] if len(values) == 1 else values


def format_summary(summary: dict[str, Any]) -> str:
    """A short, readable block for the terminal."""
    def f(key: str, fmt: str = "{:,.2f}") -> str:
        v = summary.get(key)
        return "n/a" if v is None else fmt.format(v)

    tip = f"yes, from month {summary['tipping_month']}" if summary["tipped"] else "no"
    lines = [
        f"dmsim {' + '.join([summary['scenario'], *(summary.get('strategies') or [])])} "
        f"(seed {summary['seed']}, {summary['months']} months)",
        f"  workshops active (final)      {f('workshops_active_final', '{:,.1f}')}",
        f"  DM market share (final)       {f('dm_market_share_final', '{:.1%}')}",
        f"  DM unit cost (final)          {f('mean_unit_cost_usd_final')} USD, "
        f"service overhead {f('overhead_share_final', '{:.1%}')}",
        f"  services shared (final)       {f('shared_service_share_final', '{:.1%}')}, "
        f"providers {f('providers_active_final', '{:,.1f}')}",
        f"  jobs (final)                  {f('jobs_final', '{:,.0f}')}",
        f"  local value added (total)     {f('local_value_added_usd_total', '{:,.0f}')} USD",
        f"  buyer landed cost (final)     {f('buyer_landed_cost_usd_mean_final')} USD/unit",
        f"  transport emissions (total)   {f('emissions_t_co2_total', '{:,.0f}')} t CO2",
        f"  public spend (total)          {f('public_spend_usd_total', '{:,.0f}')} USD",
        f"  tipped                        {tip}",
    ]
    if summary.get("crisis_months"):
        lines.append(f"  crisis months (shock on)      {summary['crisis_months']}: DM share "
                     f"{f('dm_market_share_crisis', '{:.1%}')}, buyer landed cost "
                     f"{f('buyer_landed_cost_usd_mean_crisis')} USD/unit, unmet "
                     f"{f('unmet_demand_share_crisis', '{:.1%}')}")
    return "\n".join(lines)


def apply_sample(cfg: DMSimConfig) -> DMSimConfig:
    """``cfg`` with row ``sample.index`` of ``sample.file`` applied (unchanged if none).

    Every cell is taken as a literal: a string holding ``${`` is refused rather than resolved
    (an interpolation such as ``${oc.env:NAME}`` would turn an environment variable into a config
    value), and values are set field by field on a copy of ``cfg`` — never merged into an
    OmegaConf tree that resolves interpolations — then the whole config is validated again.

    Raises:
        ConfigError: the file is missing or unreadable, the index is out of range, a column is
            not a config key, or a cell is not a single literal value its key allows.
    """
    import copy
    import dataclasses

    s = cfg.sample
    if not s.file or s.index < 0:
        return cfg
    try:
        table = pd.read_parquet(s.file)
    except (OSError, ValueError) as e:
        raise ConfigError("sample.file", s.file, f"a readable parquet table ({type(e).__name__})") from None
    if s.index >= len(table):
        raise ConfigError("sample.index", s.index, f"must be < {len(table)}, the rows of {s.file}")
    new = copy.deepcopy(cfg)
    for column in table.columns:
        key = str(column)
        value = table[column].iloc[s.index]  # per column, so integer columns stay integers
        value = value.item() if hasattr(value, "item") and getattr(value, "size", 1) == 1 else value
        if isinstance(value, str) and "${" in value:
            raise ConfigError(key, value, f"a literal value without '${{' (row {s.index} of {s.file}: "
                                          "sample cells are never interpolated)")
        if not isinstance(value, (bool, int, float, str)):
            raise ConfigError(key, value, f"a single number, boolean or string (row {s.index} of {s.file})")
        parent, _, leaf = key.rpartition(".")
        owner: Any = new
        for part in parent.split(".") if parent else []:
            owner = owner.get(part) if isinstance(owner, dict) else getattr(owner, part, None)
        try:
            if not (dataclasses.is_dataclass(owner) and leaf in {f.name for f in dataclasses.fields(owner)}):
                raise KeyError(key)
            # Type-check and convert (int -> float, ...) on a fresh node of the field's class alone.
            node = OmegaConf.structured(type(owner))
            OmegaConf.set_struct(node, True)
            OmegaConf.update(node, leaf, value, merge=True)
            if OmegaConf.is_config(node[leaf]):
                raise TypeError(key)  # a whole group, not one value
            setattr(owner, leaf, node[leaf])
        except Exception:  # noqa: BLE001 - any rejection is one user error
            raise ConfigError(key, value, f"a config key and value allowed there (column of {s.file})") from None
    return dataclasses.replace(new)  # runs the schema's checks (DMSimConfig.__post_init__) again


def compose_config(overrides: list[str] | None = None) -> DMSimConfig:
    """The typed config that ``python -m dmsim OVERRIDES`` would run (for notebooks and tests).

    Composed and checked exactly as the command line does (the same search path, the same
    refusals), except that a key given twice is allowed: the last one wins, as in Hydra.
    Example: ``compose_config(["+scenario=shared_services", "seed=3"])``.

    Raises:
        ConfigError: one line naming the first bad key and value.
    """
    from dmsim.cli import Composer, check_overrides, compose_checked

    overrides = list(overrides or [])
    composer = Composer()
    check_overrides(overrides, composer, unique=False)  # code builds override lists from parts
    return compose_checked(composer, overrides)[1]
