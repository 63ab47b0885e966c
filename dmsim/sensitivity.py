"""Global sensitivity analysis with SALib, driven through a Hydra sweep.

Two steps around a sweep (``configs/experiment/sensitivity.yaml`` holds the exact commands)::

    python -m dmsim.sensitivity sample --method morris|sobol|lhs [--n N] [--out PATH]
                                       [--keys K1,K2,... | --top N --from MORRIS_DIR]
    python -m dmsim -m +experiment=sensitivity ...          # each sample row x each seed
    python -m dmsim.sensitivity analyse SWEEP_DIR [--method morris|sobol] [--out DIR]

``sample`` defines the problem (:data:`PARAMETERS`: the uncertain config keys, their ranges
and why), draws a SALib sample — Morris trajectories, Saltelli's extension of the Sobol'
sequence, or a Latin hypercube for scenario discovery — and writes it as a parquet table, one
column per dotted config key, which the model applies row by row (``sample.file`` and
``sample.index``, see :func:`dmsim.run.apply_sample`). The problem, the method and its
settings travel inside the parquet file's metadata, so ``analyse`` needs nothing else.

The design has two stages. Morris screening (default 20 trajectories, 4 levels) covers all of
:data:`PARAMETERS`; Sobol' then estimates variance shares on a subset: ``--keys`` names the
parameters, ``--top N --from DIR`` takes the ``N`` with the largest Morris ``mu_star`` on any
output from a Morris analysis directory's ``indices.csv`` (:func:`top_parameters`). The
parameters left out are not sampled: they stay at their config values. The subset, and how it
was chosen, is part of the metadata (``names``, ``selection``, ``fixed``).

Each sample row is run once per seed of the sweep (``sample.index`` x ``seed``, e.g.
``seed=0,1``): the same seeds for every row (common random numbers), so differences between
rows come from the parameters, and the seeds average out part of the model's own noise.

``analyse`` reads the finished runs of a sweep (``summary.json`` marks a finished run; the row
and the seed come from ``sample.index`` and ``seed`` in each run's ``config.yaml``), checks
that each run applied its sample row, averages each output over the seeds of a sample row
(``tipped`` becomes the share of seeds tipped; an output missing in one seed is missing for the
row), keeps only rows that have every seed found in the sweep, drops incomplete Morris
trajectories or Saltelli blocks (and says how many), and runs ``SALib.analyze.morris`` or
``SALib.analyze.sobol`` on each output of :data:`OUTPUTS`. A sweep with one seed per row is
the special case of one seed. It writes into ``SWEEP_DIR/sensitivity/`` (or ``--out``):

- ``indices.csv``: one row per output and parameter — Morris ``mu``, ``mu_star``,
  ``mu_star_conf``, ``sigma``; Sobol ``S1``, ``S1_conf``, ``ST``, ``ST_conf`` (``*_conf`` are
  half-widths of 95% bootstrap intervals) — with the rank of the parameter for that output and
  the counts behind it (``n_rows`` sample rows x ``n_seeds`` seeds = ``n_runs``, ``n_blocks``);
- ``runs.csv``: one row per finished run: ``sample_index``, ``seed``, the sampled parameters
  as applied (read from the run's ``config.yaml``) and every ``summary.json`` figure;
- ``points.csv``: one row per sample row with a finished run: ``sample_index``, the
  parameters, every numeric summary figure averaged over the row's seeds, ``n_seeds`` and
  ``complete`` (all seeds present and its trajectory / block complete: used in the analysis);
- ``indices.png``: one panel per output, parameters sorted by importance, with intervals.

Integer keys (``workshops.initial``) are drawn on ``[low, high + 1)`` and floored, so each
integer in ``[low, high]`` is equally likely.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from dmsim.compare import find_run_dirs
from dmsim.outputs import CONFIG, SUMMARY, atomic_write
from dmsim.plotting import new_figure

REPO = Path(__file__).resolve().parent.parent
META_KEY = b"dmsim.sample"  # parquet schema metadata: the problem and how it was sampled
OVERRIDES = Path(".hydra") / "overrides.yaml"
METHODS = ("morris", "sobol", "lhs")
DEFAULT_SEED = 20261124  # of the sampler (not of the model)
MORRIS_LEVELS = 4
CONFIDENCE = 0.95
BOOTSTRAP = 1000


@dataclass(frozen=True)
class Parameter:
    """One uncertain config key: its range, whether it is an integer, and why that range.

    Attributes:
        key: Dotted config key (a column of the sample table).
        low: Lowest value.
        high: Highest value (inclusive).
        integer: Drawn on ``[low, high + 1)`` and floored.
        rationale: One line: what it is (units), why it is uncertain and why this range.
    """

    key: str
    low: float
    high: float
    integer: bool = False
    rationale: str = ""


# Every parameter that can move the results of the baseline scenario on a mesh network, with
# ranges around the schema defaults (dmsim/config.py; provenance in docs/parameters.md). The
# break-even client count of a shared provider, in standard workshops, is
# n* = 9.75 F_scale / (f_scale / 1.2 - 0.125 (1 - 0.5 coordination)): 13.8 at the defaults.
PARAMETERS: tuple[Parameter, ...] = (
    # Ecosystem and services
    Parameter("workshops.initial", 5, 120, True,
              "workshops at month 0 (default 20): from a thin start far below the provider break-even "
              "n* (13.8 standard workshops) to a dense one (one per 8,000 people of the 1 million)"),
    Parameter("services.provider_fixed_cost_scale", 0.5, 2.0, False,
              "x every shared provider's fixed cost (USD/month, 2,145-4,290 at 1, all seven services): "
              "halved by cheap premises and digital tools, doubled by a thin skilled-labour market; n* is "
              "proportional to it"),
    Parameter("services.internal_cost_scale", 0.5, 2.0, False,
              "x all seven in-house service costs (USD/month, 220-440 each at 1): halved where owners do "
              "the job informally, doubled where compliance and skilled staff are dear; the cost a provider "
              "must undercut (n* from 33 to 6 standard workshops over the range)"),
    Parameter("services.internal_effect", 0.5, 1.0, False,
              "quality of a standard workshop's in-house services relative to a specialist provider "
              "(default 0.75): from half as good (a two-person shop's own certification or maintenance) "
              "to as good; the non-price reason to buy in"),
    Parameter("market.nest_rho", 0.3, 1.0, False,
              "dissimilarity of the DM nest of the nested logit (default 0.5): 0.3 = workshops close "
              "substitutes of one another (more of them add little DM share), 1 = plain logit (each adds "
              "share)"),
    # Workshops: pricing, capacity, investment, entry
    Parameter("workshops.markup", 0.1, 0.5, False,
              "cost-plus markup a workshop starts from (fraction of unit cost, default 0.2): thin to "
              "comfortable margins of small manufacturers; prices then follow load"),
    Parameter("workshops.price_adjustment_per_month", 0.01, 0.15, False,
              "markup change per month per unit of excess load (default 0.05): from sticky prices (a year "
              "to move a few points) to fast repricing"),
    Parameter("workshops.target_utilisation", 0.7, 1.0, False,
              "share of available hours a workshop aims to fill before raising prices (default 0.9): 0.7 "
              "keeps slack for rush orders, 1 runs flat out"),
    Parameter("workshops.capacity_hours_per_month", 300.0, 700.0, False,
              "production hours/month of a new (standard) workshop (default 480): about 1.7-4 full-time "
              "workers of 176 h"),
    Parameter("workshops.capex_usd_per_hour_capacity", 40.0, 120.0, False,
              "equipment, USD per monthly production hour (default 80): USD 19,000-58,000 for a standard "
              "480-hour workshop, second-hand hand tools to new machine tools"),
    Parameter("workshops.entry_prospects_per_million_per_month", 0.25, 3.0, False,
              "would-be owners testing a site, per million people per month (default 1): entrepreneurs "
              "scarce (one every 4 months in the region) to plentiful (3 a month)"),
    Parameter("workshops.entry_profit_reference_usd_per_month", 300.0, 1200.0, False,
              "profit a business plan must promise to enter, USD/month (the owner's outside option, "
              "default 600): about 1-4 x a full-time wage at 1.8 USD/h"),
    # Products (all four at once)
    Parameter("scales.demand", 0.5, 1.5, False,
              "x every product's potential units per person per month: market size uncertain by +-50% "
              "(incomes, needs, institutional budgets)"),
    Parameter("scales.valuation", 0.8, 1.5, False,
              "x every product's reservation value (2 x the import's factory price at 1): from barely above "
              "the landed import (1.5-1.7 x) to a wide margin over it"),
    Parameter("scales.labour_hours", 0.6, 1.4, False,
              "x DM labour hours per unit before learning (0.45 x the import's factory price in wages at 1): "
              "well-tooled, skilled shops to slow hand work"),
    Parameter("scales.material", 0.8, 1.2, False,
              "x every product's material cost (0.55 x the import's factory price at base price): +-20% for "
              "material prices and scrap"),
    # Labour, buyers, imports
    Parameter("labour.wage_usd_per_hour", 1.0, 3.0, False,
              "production wage, USD/hour (default 1.8): about 180-530 USD a month full-time, low- to "
              "lower-middle-income manufacturing wages"),
    Parameter("market.price_sensitivity_household", 1.5, 6.0, False,
              "households' price sensitivity, alpha x the import's factory price (default 2.3, an "
              "assumption): needs bought regardless of price to very price-driven buyers"),
    Parameter("imports.tariff", 0.0, 0.4, False,
              "import tariff, fraction of CIF value (default 0.1): duty-free (medical goods, farm inputs) to "
              "protective (common external tariffs of 20-35% on finished goods)"),
    Parameter("imports.freight", 0.07, 0.2, False,
              "international freight, fraction of value (default 0.114, UNCTAD's Africa average): coastal "
              "and well-connected (developed economies 6.8%) to landlocked"),
    # Network and learning
    Parameter("network.coordination", 0.0, 1.0, False,
              "coordination of the mesh network: pooled material and service purchasing, overflow, "
              "knowledge spillovers, none to full; network.type=mesh is fixed by the experiment"),
    Parameter("learning.progress_ratio", 0.75, 0.95, False,
              "labour hours per unit after a doubling of cumulative output (default 0.85): typical "
              "manufacturing progress ratios 0.75-0.9 (Dutton & Thomas 1984), 0.95 for little learning"),
    # Make-or-buy and provider entry
    Parameter("services.switch_probability", 0.2, 0.9, False,
              "share of aware workshops that act at a quarterly make-or-buy review (default 0.5): inertia "
              "and distrust to eager switching"),
    Parameter("services.awareness_base_per_month", 0.01, 0.2, False,
              "monthly chance a workshop hears of a provider without word of mouth (default 0.05): 11% to "
              "93% within a year"),
    Parameter("services.provider_entry_hurdle", 1.0, 3.0, False,
              "clients a would-be provider expects / those it prices on, needed to enter (default 1.5): "
              "break-even entry to cautious investors wanting three times break-even"),
    Parameter("services.provider_outreach", 0.0, 1.0, False,
              "share of workshops a new local provider tells of itself at entry (default 0.5): none (word "
              "of mouth only) to all"),
    # Finance
    Parameter("finance.informal_rate_per_year", 0.15, 0.5, False,
              "yearly interest without a finance service (informal and microfinance credit, default 0.35): "
              "near the formal rate (0.18) to moneylenders' rates"),
)
# Outputs defined in every run: DM unit cost and fill rate are undefined where DM dies out (a
# sixth of the default sample does), and one such point leaves its whole Morris trajectory out.
OUTPUTS: tuple[str, ...] = (
    "dm_market_share_final", "workshops_active_final", "shared_service_share_final",
    "consumer_surplus_usd_total", "social_surplus_usd_total", "tipped",
)
# Sobol: 16 base points x 2 seeds fit a working session (the committed analysis); --n 64 halves the intervals.
DEFAULT_N = {"morris": 20, "sobol": 16, "lhs": 256}
DEFAULT_OUT = {
    "morris": Path("experiments/sensitivity/sample_morris.parquet"),
    "sobol": Path("experiments/sensitivity/sample_sobol.parquet"),
    "lhs": Path("experiments/scenario_discovery/sample_lhs.parquet"),
}
INDEX_COLUMNS = {
    "morris": ("mu", "mu_star", "mu_star_conf", "sigma"),
    "sobol": ("S1", "S1_conf", "ST", "ST_conf"),
}
RANK_BY = {"morris": "mu_star", "sobol": "ST"}


class SensitivityError(Exception):
    """A problem with the input that ends the command with one line on stderr."""


# --------------------------------------------------------------------------------------------
# The problem and the sample
# --------------------------------------------------------------------------------------------


def select_parameters(keys: Sequence[str], params: Sequence[Parameter] = PARAMETERS) -> tuple[Parameter, ...]:
    """The parameters named by ``keys``, in the order of ``params``.

    Any order of ``keys`` gives the same problem, hence the same sample.

    Raises:
        SensitivityError: no key, an unknown key or a repeated one.
    """
    keys = [k.strip() for k in keys if k.strip()]
    if not keys:
        raise SensitivityError("--keys names no parameter")
    known = {p.key: p for p in params}
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise SensitivityError(f"unknown parameter {unknown[0]!r}: one of {', '.join(known)}")
    if len(set(keys)) < len(keys):
        raise SensitivityError(f"a parameter is named twice in --keys {','.join(keys)}")
    return tuple(p for p in params if p.key in set(keys))


def _indices_path(source: str | Path) -> Path:
    path = Path(source)
    return path / "indices.csv" if path.is_dir() else path


def parameter_scores(indices: pd.DataFrame) -> pd.Series:
    """Each parameter's largest importance on any output, relative to that output's largest.

    Morris ``mu_star`` (Sobol ``ST`` for a Sobol table) is in the units of its output, so it is
    divided by the largest value among the parameters for the same output (the most important
    parameter of each output scores 1); a parameter's score is its maximum over the outputs.
    Outputs without indices (constant, too few runs) are ignored; parameters with no index on
    any output score NaN.
    """
    methods = set(indices["method"])
    if len(methods) != 1 or next(iter(methods)) not in RANK_BY:
        raise SensitivityError(f"an indices table of one method (morris or sobol), not {sorted(methods)}")
    key = RANK_BY[next(iter(methods))]
    v = pd.to_numeric(indices[key], errors="coerce")
    top = v.groupby(indices["output"]).transform("max")
    rel = (v / top).where(top > 0, 0.0).where(v.notna())
    return rel.groupby(indices["parameter"], sort=False).max()


def top_parameters(source: str | Path, n: int,
                   params: Sequence[Parameter] = PARAMETERS) -> tuple[tuple[Parameter, ...], dict[str, float]]:
    """The ``n`` parameters with the largest Morris ``mu_star`` on any output (:func:`parameter_scores`).

    Args:
        source: A Morris analysis directory (with ``indices.csv``) or the ``indices.csv`` itself.
        n: How many to keep.
        params: The problem the indices must belong to.

    Returns:
        ``(chosen, scores)``: the chosen parameters in the order of ``params``, and every
        parameter's score (largest first) for the record.

    Raises:
        SensitivityError: an unreadable table, a parameter not in ``params``, or fewer than
            ``n`` parameters with indices.
    """
    path = _indices_path(source)
    try:
        indices = pd.read_csv(path)
    except (OSError, ValueError) as e:
        raise SensitivityError(f"cannot read the indices table {path} ({type(e).__name__})") from None
    if not {"method", "output", "parameter"} <= set(indices.columns):
        raise SensitivityError(f"{path} is not an indices table of dmsim.sensitivity analyse")
    known = {p.key for p in params}
    unknown = sorted(set(indices["parameter"]) - known)
    if unknown:
        raise SensitivityError(f"{path} has parameter {unknown[0]!r}, which is not in the problem")
    if n < 1:
        raise SensitivityError(f"--top {n}: at least 1")
    order = [p.key for p in params]
    scores = parameter_scores(indices).dropna()
    scores = scores.iloc[np.lexsort(([order.index(k) for k in scores.index], -scores.to_numpy()))]
    if len(scores) < n:
        raise SensitivityError(f"--top {n} but only {len(scores)} parameters have indices in {path}")
    chosen = set(scores.index[:n])
    return tuple(p for p in params if p.key in chosen), {k: round(float(v), 6) for k, v in scores.items()}


def salib_problem(params: Sequence[Parameter] | Mapping[str, tuple[float, float]] | None = None) -> dict[str, Any]:
    """The SALib problem dict; integer keys get ``[low, high + 1)`` (floored later).

    ``params``: parameters (:class:`Parameter`), ``{config key: (low, high)}`` (integer keys are those
    of type ``int`` in the schema, :mod:`dmsim.config`) or ``None`` for :data:`PARAMETERS`.
    """
    params = as_parameters(params)
    return {
        "num_vars": len(params),
        "names": [p.key for p in params],
        "bounds": [[float(p.low), float(p.high) + (1.0 if p.integer else 0.0)] for p in params],
    }


def expected_rows(method: str, n: int, d: int, second_order: bool = False) -> int:
    """Rows of a sample: Morris ``n (D+1)``, Sobol ``n (2D+2)`` or ``n (D+2)``, LHS ``n``."""
    if method == "morris":
        return n * (d + 1)
    if method == "sobol":
        return n * (2 * d + 2 if second_order else d + 2)
    if method == "lhs":
        return n
    raise SensitivityError(f"unknown method {method!r}: one of {', '.join(METHODS)}")


def block_size(meta: dict[str, Any]) -> int:
    """Rows that belong together in the analysis: a Morris trajectory or a Saltelli block."""
    d = len(meta["names"])
    if meta["method"] == "morris":
        return d + 1
    if meta["method"] == "sobol":
        return 2 * d + 2 if meta["second_order"] else d + 2
    return 1


def draw_sample(method: str, n: int | None = None, *, params: Sequence[Parameter] = PARAMETERS,
                seed: int = DEFAULT_SEED, num_levels: int = MORRIS_LEVELS,
                second_order: bool = False,
                selection: dict[str, Any] | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Draw a SALib sample of ``params``.

    Args:
        method: ``morris`` (``n`` optimised trajectories of ``D+1`` rows, from ``10 n``
            candidates), ``sobol`` (Saltelli's scheme on a scrambled Sobol' sequence, ``n`` base
            points, a power of two) or ``lhs`` (``n`` Latin-hypercube points).
        n: Trajectories, base points or points; :data:`DEFAULT_N` if ``None``.
        params: The uncertain parameters.
        seed: Seed of the sampler.
        num_levels: Grid levels of the Morris design.
        second_order: Sobol only: also the second-order blocks (``2D+2`` rows per base point
            instead of ``D+2``).
        selection: How ``params`` were chosen from a larger problem (see ``sample --keys`` /
            ``--top``), recorded in the metadata; its ``fixed`` lists the keys left at their
            config values.

    Returns:
        ``(table, meta)``: one column per key (integers as ``int64``) and the description
        stored with the table (method, settings, names, bounds, integer keys, rationales,
        ``selection`` or ``None`` for the whole problem, ``fixed`` keys).

    Raises:
        SensitivityError: an unknown method or a bad ``n``.
    """
    from SALib.sample import latin, sobol
    from SALib.sample import morris as morris_sample

    if method not in METHODS:
        raise SensitivityError(f"unknown method {method!r}: one of {', '.join(METHODS)}")
    n = DEFAULT_N[method] if n is None else int(n)
    if n < 2:
        raise SensitivityError(f"--n {n} is too small: at least 2")
    problem = salib_problem(params)
    if method == "morris":
        x = morris_sample.sample(problem, max(10 * n, n + 1), num_levels=num_levels,
                                 optimal_trajectories=n, local_optimization=True, seed=seed)
    elif method == "sobol":
        if n & (n - 1):
            raise SensitivityError(f"--n {n} must be a power of two for the Sobol' sequence")
        x = sobol.sample(problem, n, calc_second_order=second_order, scramble=True, seed=seed)
    else:
        x = latin.sample(problem, n, seed=seed)
    table = pd.DataFrame(index=range(len(x)))
    for j, p in enumerate(params):
        col = x[:, j]
        if p.integer:
            table[p.key] = np.clip(np.floor(col), p.low, p.high).astype(np.int64)
        else:
            table[p.key] = np.clip(col, p.low, p.high).astype(np.float64)
    meta = {
        "method": method, "n": n, "seed": seed, "num_levels": num_levels,
        "second_order": bool(second_order), "rows": len(table),
        "names": [p.key for p in params], "bounds": problem["bounds"],
        "integer": [p.key for p in params if p.integer],
        "parameters": [asdict(p) for p in params],
        "selection": selection,
        "fixed": list((selection or {}).get("fixed", [])),
    }
    if len(table) != expected_rows(method, n, len(params), second_order):  # pragma: no cover - SALib contract
        raise SensitivityError(f"SALib returned {len(table)} rows, expected "
                               f"{expected_rows(method, n, len(params), second_order)}")
    return table, meta


def write_sample(table: pd.DataFrame, meta: dict[str, Any], path: str | Path) -> None:
    """Write the sample as parquet with ``meta`` in the schema metadata (atomically)."""
    t = pa.Table.from_pandas(table, preserve_index=False)
    t = t.replace_schema_metadata({**(t.schema.metadata or {}), META_KEY: json.dumps(meta).encode()})
    atomic_write(Path(path), lambda p: pq.write_table(t, p))


def read_sample(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A sample table and its metadata.

    Raises:
        SensitivityError: the file is missing, unreadable or was not written by :func:`write_sample`.
    """
    path = Path(path)
    try:
        t = pq.read_table(path)
    except (OSError, pa.ArrowException) as e:
        raise SensitivityError(f"cannot read sample table {path} ({type(e).__name__})") from None
    raw = (t.schema.metadata or {}).get(META_KEY)
    if raw is None:
        raise SensitivityError(f"{path} has no sample description (not written by dmsim.sensitivity sample)")
    return t.to_pandas(), json.loads(raw)


# --------------------------------------------------------------------------------------------
# In one process: SALib's own sample -> evaluate -> analyze loop
# --------------------------------------------------------------------------------------------


def as_parameters(params: Sequence[Parameter] | Mapping[str, tuple[float, float]] | None) -> tuple[Parameter, ...]:
    """Parameters (:class:`Parameter`) from a mapping ``{config key: (low, high)}`` (``None``: :data:`PARAMETERS`).

    Raises:
        ConfigError: an unknown key, or a range that is not a ``(low, high)`` pair with low < high.
    """
    if params is None:
        return PARAMETERS
    if not isinstance(params, Mapping):
        return tuple(params)
    from dmsim.config import ConfigError
    from dmsim.ema import key_type

    out = []
    for key, bounds in params.items():
        kind = key_type(key)
        if kind not in (int, float) or not (isinstance(bounds, Sequence) and len(bounds) == 2
                                             and float(bounds[0]) < float(bounds[1])):
            raise ConfigError(key, bounds, "a (low, high) pair with low < high on a numeric config key")
        out.append(Parameter(key, float(bounds[0]), float(bounds[1]), kind is int))
    return tuple(out)


def evaluate(problem: Mapping[str, Any], X: np.ndarray, outcome: str = "tipped",  # noqa: N803 - SALib's name
             scenario: str = "baseline", seed: int | Sequence[int] = 0, **fixed: Any) -> np.ndarray:
    """Run dmsim once per row of a SALib sample ``X`` and return ``outcome`` per row.

    ``SALib.sample.sobol.sample(problem, N)`` -> ``evaluate(problem, X, "tipped")`` ->
    ``SALib.analyze.sobol.analyze(problem, Y)``, with ``problem`` from :func:`salib_problem`.
    Each row is the run of ``python -m dmsim +scenario=SCENARIO seed=S FIXED... NAME=VALUE...``
    (:func:`dmsim.model.keyword_config`), one per seed in ``seed``; the outcome is averaged over
    the seeds (``tipped``, a bool, becomes the share of seeds tipped; an undefined figure is
    NaN), the same seeds for every row, as :func:`analyse` does for a sweep.

    Integer keys (type ``int`` in the schema: ``workshops.initial``) are floored and clipped to
    ``[low, high]`` as :func:`draw_sample` does, where :func:`salib_problem` gives them bounds
    ``[low, high + 1)`` so each integer is equally likely; a hand-written problem with bounds
    ``[a, b]`` on an integer key therefore gives ``a ... b - 1``.

    Args:
        problem: A SALib problem (``names``, ``bounds``).
        X: The sample, shape (rows, len(names)).
        outcome: A key of the run summary (``summary.json``).
        scenario: A file of ``configs/scenario/``.
        seed: The run seed, or several (the outcome is their mean).
        **fixed: Other config keys for every run (``steps=36``; dotted ones via ``**{...}``).

    Returns:
        ``outcome`` per row, float64, shape (rows,).

    Raises:
        ConfigError: a bad key or value (one line), before any run.
    """
    from omegaconf import OmegaConf

    from dmsim.ema import key_type
    from dmsim.model import keyword_config
    from dmsim.run import run

    names = list(problem["names"])
    x = np.asarray(X, dtype=float)
    if x.ndim != 2 or x.shape[1] != len(names):
        raise SensitivityError(f"X has shape {x.shape}; expected (rows, {len(names)}) for {', '.join(names)}")
    seeds = [int(seed)] if isinstance(seed, int | np.integer) else [int(s) for s in seed]
    columns: list[list[int] | list[float]] = []
    for j, name in enumerate(names):
        low, high = (float(b) for b in problem["bounds"][j])
        if key_type(name) is int:  # the sampled [low, high + 1) floored, as draw_sample does
            top = max(math.ceil(low), math.ceil(high) - 1)
            columns.append(np.clip(np.floor(x[:, j]), math.ceil(low), top).astype(np.int64).tolist())
        else:
            columns.append(x[:, j].tolist())
    rows = [{name: col[i] for name, col in zip(names, columns, strict=True)} for i in range(len(x))]
    if rows:  # bad keys or values stop here, before any run, with the command line's message
        keyword_config(scenario, seed=seeds[0], **fixed, **rows[0])
    # Composed once per seed; each row is merged in as dmsim.run.apply_sample merges a sweep's
    # sample row (typed, range-checked), which spares Hydra's composition per run.
    bases = {s: OmegaConf.structured(keyword_config(scenario, seed=s, **fixed)) for s in seeds}
    y = np.empty(len(rows))
    for i, values in enumerate(rows):
        per_seed = []
        for s in seeds:
            node = bases[s].copy()
            for name, value in values.items():
                OmegaConf.update(node, name, value, merge=True)
            summary = run(OmegaConf.to_object(node)).summary
            if outcome not in summary:
                raise SensitivityError(f"outcome {outcome!r} is not in a run's summary: one of {', '.join(summary)}")
            per_seed.append(summary[outcome])
        y[i] = _numeric(pd.Series(per_seed, dtype=object)).mean(skipna=False)  # missing in one seed: missing
    return y


# --------------------------------------------------------------------------------------------
# Reading a sweep
# --------------------------------------------------------------------------------------------


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """A nested mapping as ``{dotted.key: scalar}``."""
    out: dict[str, Any] = {}
    if isinstance(node, dict):
        for k, v in node.items():
            out.update(flatten(v, f"{prefix}{k}."))
    else:
        out[prefix[:-1]] = node
    return out


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_run(d: Path) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """``(flattened config, summary)`` of a finished run, or ``None`` if unreadable."""
    try:
        summary = json.loads((d / SUMMARY).read_text())
        cfg = yaml.load((d / CONFIG).read_text(), Loader=_LOADER)
    except (OSError, ValueError, yaml.YAMLError):
        return None
    if not isinstance(summary, dict) or not isinstance(cfg, dict):
        return None
    flat = flatten(cfg)
    if (d / OVERRIDES).is_file() and flat.get("sample.index") is None:
        try:
            for item in yaml.load((d / OVERRIDES).read_text(), Loader=_LOADER) or []:
                if str(item).startswith("sample.index="):
                    flat["sample.index"] = int(str(item).split("=", 1)[1])
        except (OSError, ValueError, yaml.YAMLError):
            pass
    return flat, summary


@dataclass
class Runs:
    """The finished runs of a sweep.

    Attributes:
        table: One row per finished run: ``run_dir``, ``sample_index``, ``sample_file``,
            ``scenario``, ``seed``, the ``parameters`` and every summary figure.
        config: The same rows: every key of each run's ``config.yaml``, dotted.
        parameters: Config keys that vary across runs (``seed``, ``steps``, ``scenario`` and
            ``sample.*`` excluded), ``keys`` given to :func:`load_runs` first.
        unfinished: Run directories without ``summary.json``.
        unreadable: Finished run directories whose files could not be read.
    """

    table: pd.DataFrame
    config: pd.DataFrame
    parameters: list[str]
    unfinished: list[Path]
    unreadable: list[Path]

    def with_parameters(self, keys: Sequence[str]) -> Runs:
        """The same runs with ``keys`` (config keys present in the runs) among the parameters."""
        keys = [k for k in keys if k in self.config.columns]
        params = list(dict.fromkeys([*keys, *self.parameters]))
        table = self.table.drop(columns=[k for k in params if k in self.table.columns])
        at = list(table.columns).index("seed") + 1 if "seed" in table.columns else 3
        table = pd.concat([table.iloc[:, :at], self.config[params], table.iloc[:, at:]], axis=1)
        return Runs(table, self.config, params, self.unfinished, self.unreadable)


NOT_PARAMETERS = frozenset({"seed", "sample.index", "sample.file", "scenario", "steps"})


def load_runs(sweep_dir: str | Path, keys: Sequence[str] = (), skip: Sequence[Path] = ()) -> Runs:
    """Read every finished run of a sweep (values from its ``config.yaml``, figures from its summary).

    Args:
        sweep_dir: The sweep (multirun) directory.
        keys: Config keys to keep even if they do not vary.
        skip: Directories not to search (an analysis' own output).

    Raises:
        SensitivityError: ``sweep_dir`` is not a directory or holds no finished run.
    """
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise SensitivityError(f"sweep directory {sweep_dir} does not exist")
    finished, unfinished = find_run_dirs(sweep_dir, skip)
    configs: list[dict[str, Any]] = []
    summaries: list[dict[str, Any]] = []
    dirs: list[str] = []
    unreadable: list[Path] = []
    for d in finished:
        got = _read_run(d)
        if got is None:
            unreadable.append(d)
            continue
        configs.append(got[0])
        summaries.append(got[1])
        dirs.append(d.relative_to(sweep_dir).as_posix())
    if not configs:
        raise SensitivityError(f"no finished run in {sweep_dir} ({len(unfinished)} unfinished)")
    cfg = pd.DataFrame.from_records(configs)
    varying = [c for c in cfg.columns if c not in NOT_PARAMETERS and cfg[c].map(repr).nunique() > 1]
    table = pd.DataFrame({"run_dir": dirs})
    idx = cfg["sample.index"] if "sample.index" in cfg.columns else pd.Series(-1, index=cfg.index)
    table["sample_index"] = pd.to_numeric(idx, errors="coerce").fillna(-1).astype(np.int64)
    table["sample_file"] = cfg["sample.file"] if "sample.file" in cfg.columns else ""
    for c in ("scenario", "seed"):
        if c in cfg.columns:
            table[c] = cfg[c]
    summ = pd.DataFrame.from_records(summaries).drop(columns=["scenario", "seed"], errors="ignore")
    table = pd.concat([table, summ], axis=1)
    return Runs(table, cfg, [], unfinished, unreadable).with_parameters([*keys, *varying])


def resolve_sample_path(recorded: str, sweep_dir: Path) -> Path:
    """Where a run's ``sample.file`` is now: as recorded, else from the repo root or the sweep's parent."""
    p = Path(recorded)
    for cand in (p, REPO / p, sweep_dir.parent / p, sweep_dir.parent.parent / p):
        if cand.is_file():
            return cand
    raise SensitivityError(f"the runs' sample table {recorded} is not found (give it with --sample)")


def _numeric(values: pd.Series) -> pd.Series:
    """A summary column as floats: booleans 0/1, anything that is not a number NaN."""
    return pd.to_numeric(values.map(lambda v: float(v) if isinstance(v, bool) else v), errors="coerce")


def align(runs: Runs, sample: pd.DataFrame,
          meta: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """The runs averaged over seeds per sample row, and those rows in sample order for the analysis.

    Checks that each run applied its sample row (the values in its ``config.yaml`` equal the
    table's), so a sample redrawn after the sweep is caught. The seeds of the sweep are every
    seed found among its runs inside the sample; a row is complete when it has a run for each,
    and a Morris trajectory or Saltelli block when all its rows are.

    Returns:
        ``(points, aligned, counts)``. ``points``: one row per sample row with at least one
        run — ``sample_index``, the sampled parameters, every numeric summary figure averaged
        over the row's seeds (booleans as 0/1, so ``tipped`` is the share of seeds tipped; NaN
        if the figure is missing in any seed), ``n_seeds`` and ``complete``. ``aligned``: the
        complete rows of complete blocks, in sample order (the analysis' input). ``counts``:
        runs used, duplicate runs (same row and seed; the last is kept), runs outside the
        sample, ``seeds`` (sorted) and ``n_seeds``, sample rows with runs / with every seed /
        expected, and blocks complete / expected.

    Raises:
        SensitivityError: a run's applied values differ from its sample row.
    """
    idx = runs.table["sample_index"]
    inside = (idx >= 0) & (idx < len(sample))
    outside = int((~inside).sum())
    t = runs.table[inside].copy()
    t["seed"] = (pd.to_numeric(t["seed"], errors="coerce").fillna(-1).astype(np.int64)
                 if "seed" in t.columns else np.int64(0))
    dup = int(t.duplicated(["sample_index", "seed"]).sum())
    t = t.drop_duplicates(["sample_index", "seed"], keep="last").sort_values(["sample_index", "seed"])
    rows = t["sample_index"].to_numpy()
    for key in meta["names"]:
        if key not in t.columns:
            continue
        want = sample[key].to_numpy()[rows]
        got = pd.to_numeric(t[key], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isclose(got, want.astype(float), rtol=1e-9, atol=1e-12)
        if bad.any():
            i, s = int(rows[bad][0]), int(t["seed"].to_numpy()[bad][0])
            raise SensitivityError(f"run for sample row {i} (seed {s}) has {key}={got[bad][0]!r}, the sample has "
                                   f"{want[bad][0]!r}: the sample table changed after the sweep")
    seeds = sorted(int(s) for s in set(t["seed"]))
    n_seeds = len(seeds)
    not_figures = {"run_dir", "sample_index", "sample_file", "scenario", "seed", *runs.parameters}
    figures: dict[str, pd.Series] = {}
    for c in t.columns:
        if c in not_figures:
            continue
        v = _numeric(t[c])
        if (v.notna() | t[c].isna()).all():  # numbers (or missing) in every run: a figure
            figures[c] = v
    num = pd.DataFrame(figures, index=t.index)
    by_row = t["sample_index"]
    mean = num.groupby(by_row).mean().mask(num.isna().groupby(by_row).any())
    have = t.groupby("sample_index").size()
    points = sample.loc[have.index, list(meta["names"])].copy()
    points.index.name = "sample_index"
    points = pd.concat([points, mean.drop(columns=[c for c in meta["names"] if c in mean.columns])], axis=1)
    points["n_seeds"] = have.astype(np.int64)
    size = block_size(meta)
    n_blocks = len(sample) // size
    full = np.zeros(len(sample), dtype=bool)
    full[have.index[have.to_numpy() == n_seeds].to_numpy()] = True
    complete = full[: n_blocks * size].reshape(n_blocks, size).all(axis=1)
    used = np.zeros(len(sample), dtype=bool)
    used[: n_blocks * size] = np.repeat(complete, size)
    points["complete"] = used[points.index.to_numpy()]
    points = points.reset_index()
    aligned = points[points["complete"]].reset_index(drop=True)
    counts = {"runs": len(t), "duplicates": dup, "outside_sample": outside, "seeds": seeds,
              "n_seeds": n_seeds, "rows_with_runs": int(len(have)), "rows_complete": int(full.sum()),
              "rows_expected": len(sample), "blocks_complete": int(complete.sum()), "blocks_expected": n_blocks}
    return points, aligned, counts


# --------------------------------------------------------------------------------------------
# Analysis
# --------------------------------------------------------------------------------------------


def _complete_blocks(y: np.ndarray, size: int) -> np.ndarray:
    """Mask of rows in blocks with no NaN in ``y``."""
    ok = np.isfinite(y).reshape(-1, size).all(axis=1)
    return np.repeat(ok, size)


def analyse(sample: pd.DataFrame, meta: dict[str, Any], aligned: pd.DataFrame,
            outputs: Sequence[str] = OUTPUTS, seed: int = 1) -> pd.DataFrame:
    """Sensitivity indices for each output, one tidy row per output and parameter.

    Args:
        sample: The sample table (for the Morris inputs).
        meta: Its description (:func:`read_sample`).
        aligned: Sample rows in sample order, complete blocks only, each output averaged over
            the row's seeds, ``n_seeds`` of them (:func:`align`).
        outputs: Summary figures to analyse (booleans become 0/1); absent ones are skipped.
        seed: Seed of the bootstrap intervals (not 0: SALib's Sobol analysis reads 0 as "no seed").

    Returns:
        Columns ``method``, ``output``, ``parameter``, the method's indices
        (:data:`INDEX_COLUMNS`), ``rank`` (1 = most important), ``n_rows`` (sample rows
        used), ``n_seeds`` (per row), ``n_runs`` (their product), ``n_blocks``, ``note`` (why
        an output has no indices, e.g. it does not vary).
    """
    from SALib.analyze import morris, sobol

    method = meta["method"]
    if seed == 0:
        raise SensitivityError("--seed 0 would leave the bootstrap unseeded in SALib: use another seed")
    if method not in INDEX_COLUMNS:
        raise SensitivityError(f"a {method} sample has no sensitivity indices (use dmsim.discovery)")
    names = list(meta["names"])
    problem = {"num_vars": len(names), "names": names, "bounds": meta["bounds"]}
    size = block_size(meta)
    cols = INDEX_COLUMNS[method]
    n_seeds = int(aligned["n_seeds"].max()) if "n_seeds" in aligned.columns and len(aligned) else 1
    rows: list[dict[str, Any]] = []
    for out in outputs:
        if out not in aligned.columns:
            continue
        y_all = _numeric(aligned[out]).to_numpy(dtype=float)
        mask = _complete_blocks(y_all, size)
        y = y_all[mask]
        n_blocks = len(y) // size
        note = ""
        res: dict[str, np.ndarray] = {}
        if n_blocks < 2:
            note = "fewer than two complete blocks"
        elif np.nanstd(y) == 0:
            note = f"constant ({y[0]:g}) in every sample row"
        else:
            if method == "morris":
                x = sample.loc[aligned["sample_index"].to_numpy()[mask], names].to_numpy(dtype=float)
                r = morris.analyze(problem, x, y, num_resamples=BOOTSTRAP, conf_level=CONFIDENCE,
                                   num_levels=int(meta["num_levels"]), seed=seed)
            else:
                r = sobol.analyze(problem, y, calc_second_order=bool(meta["second_order"]),
                                  num_resamples=BOOTSTRAP, conf_level=CONFIDENCE, seed=seed)
            res = {c: np.asarray(r[c], dtype=float) for c in cols}
        order = np.argsort(-np.nan_to_num(res[RANK_BY[method]], nan=-np.inf)) if res else np.arange(len(names))
        rank = np.empty(len(names), dtype=int)
        rank[order] = np.arange(1, len(names) + 1)
        for j, name in enumerate(names):
            row: dict[str, Any] = {"method": method, "output": out, "parameter": name}
            for c in cols:
                row[c] = float(res[c][j]) if res else math.nan
            row.update(rank=int(rank[j]) if res else None, n_rows=len(y), n_seeds=n_seeds,
                       n_runs=len(y) * n_seeds, n_blocks=n_blocks, note=note)
            rows.append(row)
    if not rows:
        raise SensitivityError(f"none of the outputs {', '.join(outputs)} is in the runs' summaries")
    return pd.DataFrame(rows)


def plot_indices(indices: pd.DataFrame, path: Path, title: str = "") -> None:
    """One panel per output: parameters by importance, with 95% intervals."""
    outs = list(dict.fromkeys(indices["output"]))
    method = indices["method"].iloc[0]
    n_max = int(indices["n_runs"].max())
    ncol = min(3, len(outs))
    nrow = math.ceil(len(outs) / ncol)
    fig, axes = new_figure(nrow, ncol, figsize=(5.6 * ncol, 0.34 * len(indices) / len(outs) * nrow + 1.6 * nrow),
                             squeeze=False, constrained_layout=True)
    for ax, out in zip(axes.flat, outs, strict=False):
        d = indices[indices["output"] == out]
        key = RANK_BY[method]
        d = d.sort_values(key, na_position="first")
        y = np.arange(len(d))
        if d[key].isna().all():
            ax.text(0.5, 0.5, d["note"].iloc[0] or "no indices", ha="center", va="center", transform=ax.transAxes)
            ax.set_title(out, fontsize=10)
            continue
        elif method == "morris":
            ax.barh(y, d["mu_star"], xerr=d["mu_star_conf"], color="tab:blue", alpha=0.8, label="mu*", capsize=2)
            ax.plot(d["sigma"], y, "k|", ms=10, mew=2, label="sigma")
            ax.set_xlabel("mu*: mean |output change| per full range")
        else:
            h = 0.38
            ax.barh(y + h / 2, d["ST"], h, xerr=d["ST_conf"], color="tab:red", alpha=0.8, label="total ST", capsize=2)
            ax.barh(y - h / 2, d["S1"], h, xerr=d["S1_conf"], color="tab:blue", alpha=0.8, label="first-order S1",
                    capsize=2)
            ax.axvline(0, color="k", lw=0.6)
            ax.set_xlabel("share of output variance")
        ax.set_yticks(y, d["parameter"], fontsize=8)
        ax.grid(axis="x", alpha=0.3)
        n_used = int(d["n_runs"].iloc[0])
        ax.set_title(out if n_used == n_max else f"{out} ({n_used} runs)", fontsize=10)
        ax.legend(fontsize=7, loc="lower right")
    for ax in list(axes.flat)[len(outs):]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=100, format="png")


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _choose_parameters(args: argparse.Namespace) -> tuple[tuple[Parameter, ...], dict[str, Any] | None]:
    """The parameters of ``sample``: all, ``--keys`` or ``--top N --from DIR``, and how chosen."""
    if args.keys is not None and args.top is not None:
        raise SensitivityError("give --keys or --top, not both")
    if args.top is not None:
        if args.from_dir is None:
            raise SensitivityError("--top needs --from DIR (a Morris analysis directory with indices.csv)")
        params, scores = top_parameters(args.from_dir, args.top)
        selection: dict[str, Any] = {"by": "top", "top": args.top, "from": str(_indices_path(args.from_dir)),
                                     "scores": scores}
    elif args.from_dir is not None:
        raise SensitivityError("--from needs --top N")
    elif args.keys is not None:
        params = select_parameters(args.keys.split(","))
        selection = {"by": "keys"}
    else:
        return PARAMETERS, None
    selection["keys"] = [p.key for p in params]
    selection["fixed"] = [p.key for p in PARAMETERS if p not in params]
    return params, selection


def _sample_cmd(args: argparse.Namespace) -> None:
    params, selection = _choose_parameters(args)
    table, meta = draw_sample(args.method, args.n, params=params, seed=args.seed, num_levels=args.levels,
                              second_order=args.second_order, selection=selection)
    out = Path(args.out) if args.out else DEFAULT_OUT[args.method]
    write_sample(table, meta, out)
    d = len(meta["names"])
    print(f"dmsim.sensitivity: {args.method} sample, n={meta['n']}, D={d}: {len(table)} rows -> {out}")
    if selection is not None:
        how = (f"top {args.top} by Morris mu_star on any output in {selection['from']}" if selection["by"] == "top"
               else "--keys")
        print(f"  parameters ({how}): {', '.join(meta['names'])}; {len(meta['fixed'])} others at their config values")
    if args.method == "lhs":
        sweep = "+experiment=discovery"
    elif args.method == "sobol":
        sweep = "+experiment=sensitivity hydra.sweep.dir=multirun/sensitivity_sobol"
    else:
        sweep = "+experiment=sensitivity"
    print(f"  sweep (each row once per seed of the experiment's seed sweep): python -m dmsim -m {sweep} "
          f"sample.file={out} sample.index='range(0,{len(table)})'")


def _analyse_cmd(args: argparse.Namespace) -> None:
    sweep = Path(args.sweep_dir)
    out = Path(args.out) if args.out else sweep / "sensitivity"
    runs = load_runs(sweep, skip=[out])
    files = sorted(set(runs.table.loc[runs.table["sample_index"] >= 0, "sample_file"].astype(str)))
    if args.sample:
        sample_path = Path(args.sample)
    elif len(files) == 1 and files[0]:
        sample_path = resolve_sample_path(files[0], sweep)
    elif not files:
        raise SensitivityError(f"no run in {sweep} was driven by a sample table (sample.index)")
    else:
        raise SensitivityError(f"runs in {sweep} use several sample tables ({', '.join(files)}): "
                               "give one with --sample")
    sample, meta = read_sample(sample_path)
    if args.method and args.method != meta["method"]:
        raise SensitivityError(f"--method {args.method} but {sample_path} is a {meta['method']} sample")
    runs = runs.with_parameters(meta["names"])
    points, aligned, counts = align(runs, sample, meta)
    skipped = len(runs.unfinished) + len(runs.unreadable)
    unit = "trajectories" if meta["method"] == "morris" else "blocks"
    seeds = ", ".join(str(s) for s in counts["seeds"])
    print(f"dmsim.sensitivity: {sweep}: {len(runs.table)} finished runs, {skipped} skipped "
          f"({len(runs.unfinished)} unfinished, {len(runs.unreadable)} unreadable); "
          f"{counts['n_seeds']} seed{'s' if counts['n_seeds'] != 1 else ''} per sample row ({seeds}); "
          f"{counts['rows_complete']}/{counts['rows_expected']} sample rows with every seed"
          + (f"; {counts['blocks_complete']}/{counts['blocks_expected']} complete {unit} of {block_size(meta)} rows"
             if meta["method"] in INDEX_COLUMNS else "")
          + (f"; {counts['duplicates']} duplicate runs ignored" if counts["duplicates"] else "")
          + (f"; {counts['outside_sample']} runs outside the sample ignored" if counts["outside_sample"] else ""))
    out.mkdir(parents=True, exist_ok=True)
    first = ("sample_index", "seed", "run_dir")
    keep = ["sample_index", "seed", *[k for k in runs.parameters if k in runs.table.columns],
            *[c for c in runs.table.columns if c not in runs.parameters and c not in first], "run_dir"]
    runs_out = runs.table[[c for c in keep if c in runs.table.columns]]
    runs_out = runs_out.sort_values([c for c in ("sample_index", "seed") if c in runs_out.columns], kind="stable")
    atomic_write(out / "runs.csv", lambda p: runs_out.to_csv(p, index=False, float_format="%.6g"))
    atomic_write(out / "points.csv", lambda p: points.to_csv(p, index=False, float_format="%.6g"))
    if meta["method"] in INDEX_COLUMNS and counts["blocks_complete"] < 2:
        unit = "trajectories" if meta["method"] == "morris" else "Saltelli blocks"
        raise SensitivityError(f"only {counts['blocks_complete']} complete {unit} of {block_size(meta)} rows x "
                               f"{counts['n_seeds']} seeds in {sweep} (need 2; {counts['blocks_expected']} "
                               "expected): finish the sweep first")
    if meta["method"] not in INDEX_COLUMNS:
        print(f"  a {meta['method']} sample has no sensitivity indices; wrote {out / 'runs.csv'}, {out / 'points.csv'} "
              f"(scenario discovery: python -m dmsim.discovery {sweep})")
        return
    outputs = [o.strip() for o in args.outputs.split(",")] if args.outputs else list(OUTPUTS)
    indices = analyse(sample, meta, aligned, outputs, seed=args.seed)
    atomic_write(out / "indices.csv", lambda p: indices.to_csv(p, index=False, float_format="%.6g"))
    n_rows = int(indices["n_rows"].max())
    title = (f"{meta['method'].capitalize()} sensitivity, {n_rows} sample rows x {counts['n_seeds']} seeds "
             f"({counts['blocks_complete']} {'trajectories' if meta['method'] == 'morris' else 'base points'})")
    atomic_write(out / "indices.png", lambda p: plot_indices(indices, p, title))
    for o in dict.fromkeys(indices["output"]):
        d = indices[indices["output"] == o].sort_values("rank")
        if d["rank"].isna().all():
            print(f"  {o}: {d['note'].iloc[0]}")
            continue
        key = RANK_BY[meta["method"]]
        top = ", ".join(f"{r.parameter} {getattr(r, key):.3g}±{getattr(r, key + '_conf'):.2g}"
                        for r in d.head(3).itertuples())
        print(f"  {o} (by {key}): {top}")
    print(f"  wrote {out / 'indices.csv'}, {out / 'indices.png'}, {out / 'runs.csv'}, {out / 'points.csv'}")


def build_parser() -> argparse.ArgumentParser:
    """The ``sample`` and ``analyse`` sub-commands."""
    p = argparse.ArgumentParser(prog="python -m dmsim.sensitivity", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sample", help="draw a SALib sample and write it as a parquet table")
    s.add_argument("--method", choices=METHODS, required=True)
    s.add_argument("--n", type=int, default=None,
                   help=f"Morris trajectories / Sobol base points (power of 2) / LHS points; default {DEFAULT_N}")
    s.add_argument("--out", default=None, help="parquet path (default experiments/.../sample_METHOD.parquet)")
    s.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the sampler")
    s.add_argument("--levels", type=int, default=MORRIS_LEVELS, help="Morris grid levels")
    s.add_argument("--second-order", action="store_true",
                   help="Sobol: also second-order indices (2D+2 runs per base point instead of D+2)")
    s.add_argument("--keys", default=None, metavar="K1,K2,...",
                   help="sample only these parameters (the others stay at their config values)")
    s.add_argument("--top", type=int, default=None, metavar="N",
                   help="sample only the N parameters with the largest Morris mu_star on any output (with --from)")
    s.add_argument("--from", dest="from_dir", default=None, metavar="DIR",
                   help="Morris analysis directory (its indices.csv) for --top, e.g. experiments/sensitivity/morris")
    a = sub.add_parser("analyse", aliases=["analyze"], help="sensitivity indices from a finished sweep")
    a.add_argument("sweep_dir")
    a.add_argument("--method", choices=("morris", "sobol"), default=None,
                   help="check that the sample is of this kind (default: whatever it is)")
    a.add_argument("--out", default=None, help="output directory (default SWEEP_DIR/sensitivity)")
    a.add_argument("--sample", default=None, help="sample table (default: the runs' sample.file)")
    a.add_argument("--outputs", default=None, help=f"comma-separated summary keys (default {','.join(OUTPUTS)})")
    a.add_argument("--seed", type=int, default=1, help="seed of the bootstrap intervals (not 0)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (2 with one line on stderr for bad input)."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "sample":
            _sample_cmd(args)
        else:
            _analyse_cmd(args)
    except SensitivityError as e:
        print(f"dmsim.sensitivity: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
