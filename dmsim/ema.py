"""dmsim as an EMA workbench model: uncertainties and levers are config keys, outcomes summary figures.

::

    from ema_workbench import SequentialEvaluator
    from ema_workbench.analysis import prim
    import dmsim.ema

    model = dmsim.ema.model({"imports.tariff": (0.0, 0.4), "workshops.initial": (5, 120)},
                            outcomes=["tipped", "dm_market_share_final"], steps=36, seed=0)
    with SequentialEvaluator(model) as evaluator:
        experiments, outcomes = evaluator.perform_experiments(scenarios=8)
    x, y = dmsim.ema.prim_inputs(experiments, outcomes, "tipped")
    box = prim.Prim(x, y).find_box()

Each experiment is one run composed exactly as ``python -m dmsim +scenario=S KEY=VALUE ...``
(:func:`dmsim.model.keyword_config`) and run by :func:`dmsim.run.run`; its outcomes are
figures of that run's ``summary.json``. EMA names must be Python identifiers, so a dotted key's
parameter is named with ``__`` for each dot (``imports__tariff``: :func:`ema_name`) and keeps
the dotted key as its ``variable_name``; the experiments table uses those names.

Parameter kinds follow the schema (:mod:`dmsim.config`): a ``(low, high)`` pair on an integer
key (``workshops.initial``, ``seed``) is an ``IntegerParameter`` (both ends included), on a float
key a ``RealParameter``; a list of values is a ``CategoricalParameter`` (``"scenario":
["baseline", "shared_services"]`` too). Keyword arguments (``seed=0``, ``steps=36``,
``**{"region.population": 200000}``) are EMA constants.

Seeds: with ``seed`` fixed (``seed=0``, the default config's seed when not given) every
experiment sees the same random numbers (common random numbers: differences come from the
parameters); ``{"seed": (0, 99)}`` among the uncertainties makes the seed one more uncertain
input, drawn per experiment. The model function is module-level and takes only keyword
arguments, so ``MultiprocessingEvaluator`` can pickle it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dmsim.config import ConfigError, DMSimConfig

if TYPE_CHECKING:
    import ema_workbench

# The default outcomes: figures every run defines (see dmsim.sensitivity.OUTPUTS).
OUTCOMES: tuple[str, ...] = ("tipped", "dm_market_share_final", "workshops_active_final",
                             "shared_service_share_final", "social_surplus_usd_total")


def run_summary(scenario: str = "baseline", **keys: Any) -> dict[str, Any]:
    """One run of ``scenario`` with config ``keys`` (dotted names); its ``summary.json`` figures.

    The model function of :func:`model`. ``tipped`` is a bool, ``tipping_month`` ``None`` when
    the run did not tip, ratios ``None`` when undefined (see :func:`dmsim.metrics.summarise`).
    """
    from dmsim.model import keyword_config
    from dmsim.run import run

    return run(keyword_config(scenario, **keys)).summary


def ema_name(key: str) -> str:
    """The EMA parameter name of a config key: ``imports.tariff`` -> ``imports__tariff``.

    ``scenario`` is ``dmsim_scenario``: EMA's experiments table has a ``scenario`` column of its own.
    """
    return "dmsim_scenario" if key == "scenario" else key.replace(".", "__")


def key_type(key: str) -> type:
    """The schema type of a dotted config key (``int``, ``float``, ``bool`` or ``str``).

    Raises:
        ConfigError: not a config key.
    """
    from omegaconf import OmegaConf

    if key == "scenario":
        return str
    missing = object()
    value = OmegaConf.select(OmegaConf.structured(DMSimConfig), key, default=missing)
    if value is missing or OmegaConf.is_config(value):
        raise ConfigError(key, "?", "a config key with a single value (e.g. imports.tariff)")
    return type(value)


def _parameter(key: str, spec: Any) -> Any:
    """An EMA parameter for config ``key``: a list -> categorical, ``(low, high)`` -> integer or real."""
    from ema_workbench import CategoricalParameter, IntegerParameter, RealParameter

    name = ema_name(key)
    if isinstance(spec, list):
        key_type(key)  # an unknown key fails here, not in the first experiment
        return CategoricalParameter(name, spec, variable_name=key)
    if not (isinstance(spec, tuple) and len(spec) == 2):
        raise ConfigError(key, spec, "a (low, high) pair or a list of values")
    kind = key_type(key)
    low, high = spec
    if kind is int:
        if int(low) != low or int(high) != high:
            raise ConfigError(key, spec, "integer bounds: it is an integer key")
        return IntegerParameter(name, int(low), int(high), variable_name=key)
    if kind is float:
        return RealParameter(name, float(low), float(high), variable_name=key)
    raise ConfigError(key, spec, f"a list of values: it is a {kind.__name__} key")


def model(uncertainties: Mapping[str, Any], levers: Mapping[str, Any] | None = None,
          outcomes: Sequence[str] = OUTCOMES, scenario: str = "baseline", *, name: str = "dmsim",
          steps: int | None = None, **fixed: Any) -> ema_workbench.Model:
    """An ``ema_workbench.Model`` that runs dmsim.

    Args:
        uncertainties: ``{config key: (low, high) or [values]}``.
        levers: The same for policy levers.
        outcomes: Keys of the run summary, each a ``ScalarOutcome`` (``tipped`` is a bool).
        scenario: A file of ``configs/scenario/``; give ``"scenario": [...]`` among the
            uncertainties or levers to vary it.
        name: The EMA model's name (a Python identifier).
        steps: Months per run (the config's 120 if ``None``).
        **fixed: Config keys held constant (``seed=0``; dotted ones via ``**{...}``).

    Raises:
        ConfigError: an unknown key, a bad range, or a key both varied and fixed.
    """
    from ema_workbench import Constant, Model, ScalarOutcome

    levers = dict(levers or {})
    constants = {"scenario": scenario, **fixed, **({} if steps is None else {"steps": int(steps)})}
    varied = {**uncertainties, **levers}
    if "scenario" in varied:  # a varied scenario replaces the default one
        del constants["scenario"]
    for key in constants:
        if key in varied:
            raise ConfigError(key, constants[key], "fixed and varied at once: give it in one place")
    for key in fixed:
        key_type(key)
    m = Model(name, function=run_summary)
    m.uncertainties = [_parameter(k, v) for k, v in uncertainties.items()]
    m.levers = [_parameter(k, v) for k, v in levers.items()]
    m.constants = [Constant(ema_name(k), v, variable_name=k) for k, v in constants.items()]
    m.outcomes = [ScalarOutcome(o) for o in outcomes]
    return m


def prim_inputs(experiments: pd.DataFrame, outcomes: Mapping[str, Any] | Any,
                outcome: str = "tipped") -> tuple[pd.DataFrame, np.ndarray]:
    """``(x, y)`` for ``ema_workbench.analysis.prim.Prim`` from ``perform_experiments``' results.

    ``x``: the parameter columns (EMA's own ``scenario``, ``policy`` and ``model`` dropped),
    numbers as ``float64`` and the rest as pandas categoricals. Integer columns become floats
    because ema_workbench 3.0 pastes midpoints such as 10.5 into them, which pandas >= 3
    refuses (``TypeError: Invalid value '10.5' for dtype 'int64'``); the boxes are the same,
    with limits that may fall between integers. ``y``: ``outcomes[outcome]`` (or ``outcomes``
    itself if it is an array) as a 1-D numpy array, ``bool`` for ``tipped``.
    """
    x = experiments.drop(columns=[c for c in ("scenario", "policy", "model") if c in experiments.columns])
    for c in x.columns:
        if pd.api.types.is_numeric_dtype(x[c]) and not pd.api.types.is_bool_dtype(x[c]):
            x[c] = x[c].astype("float64")
        else:
            x[c] = pd.Categorical(x[c].astype(str))
    y = outcomes[outcome] if isinstance(outcomes, Mapping) else outcomes
    return x, np.asarray(y).reshape(-1)
