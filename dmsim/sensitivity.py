"""Global sensitivity analysis with SALib, driven through a Hydra sweep.

Two steps around a sweep (``configs/experiment/sensitivity.yaml`` holds the exact commands)::

    python -m dmsim.sensitivity sample --method morris|sobol|lhs [--n N] [--out PATH]
    python -m dmsim -m +experiment=sensitivity ...          # one run per sample row
    python -m dmsim.sensitivity analyse SWEEP_DIR [--method morris|sobol] [--out DIR]

``sample`` defines the problem (:data:`PARAMETERS`: the uncertain config keys, their ranges
and why), draws a SALib sample — Morris trajectories, Saltelli's extension of the Sobol'
sequence, or a Latin hypercube for scenario discovery — and writes it as a parquet table, one
column per dotted config key, which the model applies row by row (``sample.file`` and
``sample.index``, see :func:`dmsim.run.apply_sample`). The problem, the method and its
settings travel inside the parquet file's metadata, so ``analyse`` needs nothing else.

``analyse`` reads the finished runs of a sweep (``summary.json`` marks a finished run; the row
comes from ``sample.index`` in each run's ``config.yaml``), aligns them with the sample, drops
incomplete Morris trajectories or Saltelli blocks (and says how many), and runs
``SALib.analyze.morris`` or ``SALib.analyze.sobol`` on each output of :data:`OUTPUTS`. It writes
into ``SWEEP_DIR/sensitivity/`` (or ``--out``):

- ``indices.csv``: one row per output and parameter — Morris ``mu``, ``mu_star``,
  ``mu_star_conf``, ``sigma``; Sobol ``S1``, ``S1_conf``, ``ST``, ``ST_conf`` (``*_conf`` are
  half-widths of 95% bootstrap intervals) — with the rank of the parameter for that output;
- ``runs.csv``: one row per finished run: ``sample_index``, the sampled parameters as applied
  (read from the run's ``config.yaml``) and every ``summary.json`` figure;
- ``indices.png``: one panel per output, parameters sorted by importance, with intervals.

Integer keys (``workshops.initial``) are drawn on ``[low, high + 1)`` and floored, so each
integer in ``[low, high]`` is equally likely. The random seed of the model is not sampled:
every run uses the config's ``seed`` (common random numbers), so differences between runs come
from the parameters alone.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
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
        rationale: One line: why it is uncertain and why this range.
    """

    key: str
    low: float
    high: float
    integer: bool = False
    rationale: str = ""


PARAMETERS: tuple[Parameter, ...] = (
    Parameter("workshops.initial", 5, 40, True,
              "ecosystem size at month 0; spans the calibrated tipping point (8-10) up to a dense start"),
    Parameter("services.provider_fixed_cost_scale", 0.5, 2.0, False,
              "shared providers' fixed cost (all seven services): halved by cheap premises/digital tools, "
              "doubled by thin markets; sets break-even n*"),
    Parameter("workshops.markup", 0.1, 0.4, False,
              "cost-plus mark-up of small manufacturers (thin to comfortable margins)"),
    Parameter("market.price_sensitivity_household", 3.0, 9.0, False,
              "households' price sensitivity (alpha x reference price); default 6 is an assumption"),
    Parameter("imports.tariff", 0.0, 0.4, False,
              "import tariff on CIF value: from duty-free (e.g. medical goods) to protective"),
    Parameter("network.coordination", 0.0, 1.0, False,
              "coordination of a mesh network (pooled procurement, overflow, knowledge); network.type=mesh fixed"),
    Parameter("learning.progress_ratio", 0.75, 0.95, False,
              "labour hours per doubling of output; typical manufacturing learning rates 5-25%"),
    Parameter("services.switch_probability", 0.2, 0.9, False,
              "share of aware workshops that act at a make-or-buy review (trust, switching cost)"),
    Parameter("services.awareness_base_per_month", 0.01, 0.2, False,
              "monthly chance a workshop learns of a provider without word of mouth"),
    Parameter("workshops.capacity_hours_per_month", 300.0, 700.0, False,
              "production hours of a new workshop: 2-4 full-time people"),
    Parameter("imports.freight", 0.07, 0.2, False,
              "international freight as a share of value (coastal to landlocked)"),
)
OUTPUTS: tuple[str, ...] = (
    "dm_market_share_final", "workshops_active_final", "mean_unit_cost_usd_final",
    "shared_service_share_final", "tipped",
)
DEFAULT_N = {"morris": 20, "sobol": 64, "lhs": 256}
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


def salib_problem(params: Sequence[Parameter]) -> dict[str, Any]:
    """The SALib problem dict; integer keys get ``[low, high + 1)`` (floored later)."""
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
                second_order: bool = False) -> tuple[pd.DataFrame, dict[str, Any]]:
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

    Returns:
        ``(table, meta)``: one column per key (integers as ``int64``) and the description
        stored with the table (method, settings, names, bounds, integer keys, rationales).

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


def align(runs: Runs, sample: pd.DataFrame, meta: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, int]]:
    """The runs in sample order, with incomplete trajectories/blocks left out.

    Checks that each run applied its sample row (the values in its ``config.yaml`` equal the
    table's), so a sample redrawn after the sweep is caught.

    Returns:
        ``(aligned, counts)``: one row per sample row of a complete block, in sample order
        (``sample_index`` and the summary figures); counts of runs used, duplicate runs,
        runs outside the sample, and blocks complete / expected.

    Raises:
        SensitivityError: a run's applied values differ from its sample row.
    """
    idx = runs.table["sample_index"]
    inside = (idx >= 0) & (idx < len(sample))
    outside = int((~inside).sum())
    t = runs.table[inside]
    dup = int(t["sample_index"].duplicated().sum())
    t = t.drop_duplicates("sample_index", keep="last").set_index("sample_index").sort_index()
    for key in meta["names"]:
        if key not in t.columns:
            continue
        want = sample[key].to_numpy()[t.index.to_numpy()]
        got = pd.to_numeric(t[key], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isclose(got, want.astype(float), rtol=1e-9, atol=1e-12)
        if bad.any():
            i = int(t.index[bad][0])
            raise SensitivityError(f"run for sample row {i} has {key}={got[bad][0]!r}, the sample has "
                                   f"{want[bad][0]!r}: the sample table changed after the sweep")
    size = block_size(meta)
    n_blocks = len(sample) // size
    present = np.zeros(len(sample), dtype=bool)
    present[t.index.to_numpy()] = True
    complete = present[: n_blocks * size].reshape(n_blocks, size).all(axis=1)
    keep = np.repeat(complete, size)
    rows = np.flatnonzero(keep)
    aligned = t.loc[rows].reset_index()
    counts = {"runs": len(t), "duplicates": dup, "outside_sample": outside,
              "blocks_complete": int(complete.sum()), "blocks_expected": n_blocks}
    return aligned, counts


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
        aligned: Runs in sample order, complete blocks only (:func:`align`).
        outputs: Summary figures to analyse (booleans become 0/1); absent ones are skipped.
        seed: Seed of the bootstrap intervals (not 0: SALib's Sobol analysis reads 0 as "no seed").

    Returns:
        Columns ``method``, ``output``, ``parameter``, the method's indices
        (:data:`INDEX_COLUMNS`), ``rank`` (1 = most important), ``n_runs``, ``n_blocks``,
        ``note`` (why an output has no indices, e.g. it does not vary).
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
    rows: list[dict[str, Any]] = []
    for out in outputs:
        if out not in aligned.columns:
            continue
        y_all = pd.to_numeric(aligned[out].map(lambda v: float(v) if isinstance(v, bool) else v),
                              errors="coerce").to_numpy(dtype=float)
        mask = _complete_blocks(y_all, size)
        y = y_all[mask]
        n_blocks = len(y) // size
        note = ""
        res: dict[str, np.ndarray] = {}
        if n_blocks < 2:
            note = "fewer than two complete blocks"
        elif np.nanstd(y) == 0:
            note = f"constant ({y[0]:g}) in every run"
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
            row.update(rank=int(rank[j]) if res else None, n_runs=len(y), n_blocks=n_blocks, note=note)
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


def _sample_cmd(args: argparse.Namespace) -> None:
    table, meta = draw_sample(args.method, args.n, seed=args.seed, num_levels=args.levels,
                              second_order=args.second_order)
    out = Path(args.out) if args.out else DEFAULT_OUT[args.method]
    write_sample(table, meta, out)
    d = len(meta["names"])
    print(f"dmsim.sensitivity: {args.method} sample, n={meta['n']}, D={d}: {len(table)} rows -> {out}")
    experiment = "discovery" if args.method == "lhs" else "sensitivity"
    print(f"  sweep: python -m dmsim -m +experiment={experiment} hydra.sweep.dir=multirun/{experiment}_{args.method} "
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
    aligned, counts = align(runs, sample, meta)
    skipped = len(runs.unfinished) + len(runs.unreadable)
    print(f"dmsim.sensitivity: {sweep}: {len(runs.table)} finished runs, {skipped} skipped "
          f"({len(runs.unfinished)} unfinished, {len(runs.unreadable)} unreadable); "
          f"{counts['blocks_complete']}/{counts['blocks_expected']} complete "
          f"{'trajectories' if meta['method'] == 'morris' else 'blocks'} of {block_size(meta)} runs"
          + (f"; {counts['duplicates']} duplicate runs ignored" if counts["duplicates"] else "")
          + (f"; {counts['outside_sample']} runs outside the sample ignored" if counts["outside_sample"] else ""))
    out.mkdir(parents=True, exist_ok=True)
    keep = ["sample_index", *[k for k in runs.parameters if k in runs.table.columns],
            *[c for c in runs.table.columns if c not in runs.parameters and c not in ("sample_index", "run_dir")],
            "run_dir"]
    runs_out = runs.table[keep].sort_values("sample_index", kind="stable")
    atomic_write(out / "runs.csv", lambda p: runs_out.to_csv(p, index=False, float_format="%.6g"))
    if meta["method"] in INDEX_COLUMNS and counts["blocks_complete"] < 2:
        unit = "trajectories" if meta["method"] == "morris" else "Saltelli blocks"
        raise SensitivityError(f"only {counts['blocks_complete']} complete {unit} of {block_size(meta)} runs in "
                               f"{sweep} (need 2; {counts['blocks_expected']} expected): finish the sweep first")
    if meta["method"] not in INDEX_COLUMNS:
        print(f"  a {meta['method']} sample has no sensitivity indices; wrote {out / 'runs.csv'} "
              f"(scenario discovery: python -m dmsim.discovery {sweep})")
        return
    outputs = [o.strip() for o in args.outputs.split(",")] if args.outputs else list(OUTPUTS)
    indices = analyse(sample, meta, aligned, outputs, seed=args.seed)
    atomic_write(out / "indices.csv", lambda p: indices.to_csv(p, index=False, float_format="%.6g"))
    n_used = int(indices["n_runs"].max())
    title = (f"{meta['method'].capitalize()} sensitivity, {n_used} runs "
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
    print(f"  wrote {out / 'indices.csv'}, {out / 'indices.png'}, {out / 'runs.csv'}")


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
