"""Scenario discovery: which parameter ranges make the ecosystem tip (PRIM, with a tree cross-check).

``python -m dmsim.discovery SOURCE [SOURCE ...] [--outcome tipped] [--out DIR]``

A SOURCE is a sweep directory (the runs of ``+experiment=discovery``, ``+experiment=sensitivity``
or any other sweep) or a runs table written by ``python -m dmsim.sensitivity analyse``
(``runs.csv`` / ``.parquet``); several are pooled. The inputs are the sampled parameters — the
columns of the runs' sample table, or else the config keys that vary across the runs (``seed``
left out) — with the values each run applied (read from its ``config.yaml``). The outcome is a
summary figure read as 0/1 (default ``tipped``; ``--invert`` looks for where it is 0).

The boxes come from PRIM (the patient rule induction method; Friedman & Fisher 1999, as used for
scenario discovery by Bryant & Lempert 2010) in the EMA workbench
(``ema_workbench.analysis.prim``). For each box PRIM peels the input space down a trajectory of
ever denser, smaller boxes; we select on it the box with the best harmonic mean of coverage (the
share of all cases of interest inside the box) and density (the share of runs inside the box
that are cases of interest), among boxes with density >= ``--min-density`` and at most
``--max-dims`` restricted parameters. Further boxes are searched on the runs outside the earlier
ones. As a cross-check, a shallow decision tree (scikit-learn) is fitted to the same data and
its leaves that predict the outcome are listed as rules.

Writes into ``DIR`` (default ``SOURCE/discovery`` for one sweep directory):

- ``boxes.csv``: one row per box and restricted parameter: ``box``, ``coverage``, ``density``,
  ``mass``, ``n``, ``k``, ``parameter``, ``low``, ``high`` (the box), ``range_low``,
  ``range_high`` (the sampled range), ``qp_low``, ``qp_high`` (quasi-p values of each limit,
  a one-sided binomial test; blank for an unrestricted side);
- ``trajectory.csv``: the peeling trajectory of each box (``box``, ``id``, coverage, density,
  mass, ``res_dim``, ``chosen``);
- ``tree_rules.csv``: the decision tree's leaves (rule, n, k, coverage, density);
- ``discovery.md``: the boxes and rules as markdown tables;
- ``discovery.png``: the peeling trajectory, the box limits and the runs on the two main axes.
"""

from __future__ import annotations

import argparse
import ast
import functools
import math
import operator
import re
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.patches import Rectangle

from dmsim.outputs import atomic_write
from dmsim.plotting import new_figure
from dmsim.sensitivity import (
    NOT_PARAMETERS,
    SensitivityError,
    load_runs,
    read_sample,
    resolve_sample_path,
)

OUTCOME = "tipped"
MIN_DENSITY = 0.8
MAX_DIMS = 4
MAX_BOXES = 3
MAX_QP = 0.05
TREE_DEPTH = 3


class DiscoveryError(Exception):
    """A problem with the input that ends the command with one line on stderr."""


def import_prim() -> ModuleType:
    """``ema_workbench.analysis.prim``, imported without its optional-dependency warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "ipyparallel not installed", "altair ... not available"
        from ema_workbench.analysis import prim
    return prim


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


@functools.cache
def _schema() -> Any:
    from omegaconf import OmegaConf

    from dmsim.config import DMSimConfig

    return OmegaConf.structured(DMSimConfig)


def _is_config_key(key: str) -> bool:
    """Whether ``key`` names a scalar in the dmsim config schema."""
    from omegaconf import OmegaConf

    node = _schema()
    try:
        value = OmegaConf.select(node, key, throw_on_missing=False, default=KeyError)
    except Exception:  # noqa: BLE001 - any selection problem means "not a key"
        return False
    return value is not KeyError and not OmegaConf.is_config(value)


# --derive expressions: arithmetic over columns, parsed with ``ast`` and evaluated node by node —
# never ``eval`` (pandas' ``DataFrame.eval`` reaches attributes and methods such as ``to_csv``).
DERIVE_RULE = ("backticked columns, numbers, + - * / **, comparisons, parentheses and "
               "log, exp, sqrt, abs, minimum, maximum")
DERIVE_MAX_CHARS = 2_000
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.Pow: operator.pow}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_COMPARE = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
            ast.Eq: operator.eq, ast.NotEq: operator.ne}
_FUNCTIONS: dict[str, tuple[Any, int]] = {  # name: (numpy function, number of arguments)
    "log": (np.log, 1), "exp": (np.exp, 1), "sqrt": (np.sqrt, 1), "abs": (np.abs, 1),
    "minimum": (np.minimum, 2), "maximum": (np.maximum, 2),
}
_BACKTICKED = re.compile(r"`([^`]*)`")


def derive_column(x: pd.DataFrame, expr: str) -> pd.Series:
    """Evaluate an arithmetic expression over the columns of ``x``, as floats (one per row).

    Allowed: column names in backticks (dotted config keys, e.g. ```workshops.initial```) or bare
    when they are identifiers, numeric literals, unary ``-``/``+``, binary ``+ - * / **``,
    comparisons (1.0 where true, 0.0 where false), parentheses, and calls of ``log``, ``exp``,
    ``sqrt``, ``abs``, ``minimum``, ``maximum`` by bare name. Nothing else — no attributes,
    subscripts, other calls or names — so an expression can only compute, never act.

    Raises:
        DiscoveryError: one line naming what is not allowed (or the column that does not exist).
    """
    if len(expr) > DERIVE_MAX_CHARS:
        raise DiscoveryError(f"an expression of at most {DERIVE_MAX_CHARS} characters")
    names: dict[str, str] = {}

    def placeholder(m: re.Match[str]) -> str:
        name = f"_dmsim_column_{len(names)}"
        names[name] = m.group(1)
        return name

    text = _BACKTICKED.sub(placeholder, expr)
    if "`" in text:
        raise DiscoveryError("an unmatched backtick")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        raise DiscoveryError(f"a syntax error ({type(e).__name__})") from None

    def column(name: str) -> pd.Series:
        if name not in x.columns:
            raise DiscoveryError(f"unknown column {name!r} (columns: {', '.join(map(str, x.columns))})")
        return x[name].astype(float)

    def value(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            try:  # numpy floats only: 9**9**9 overflows to inf instead of running for ever
                return np.float64(float(node.value))
            except OverflowError:
                raise DiscoveryError("a number too large for a float") from None
        if isinstance(node, ast.Name):
            return column(names.get(node.id, node.id))
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](value(node.operand))
        if isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
            left, result = value(node.left), None
            for op, right_node in zip(node.ops, node.comparators, strict=True):
                right = value(right_node)
                test = _COMPARE[type(op)](left, right)
                result = test if result is None else result & test
                left = right
            return result
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS
                and not node.keywords and not any(isinstance(a, ast.Starred) for a in node.args)):
            fn, arity = _FUNCTIONS[node.func.id]
            if len(node.args) != arity:
                raise DiscoveryError(f"{node.func.id}() with {len(node.args)} arguments ({arity} expected)")
            return fn(*(value(a) for a in node.args))
        what = ast.unparse(node) if not isinstance(node, ast.Name) else node.id
        for name, col in names.items():
            what = what.replace(name, f"`{col}`")
        raise DiscoveryError(f"{type(node).__name__.lower()} {what!r} is not allowed (allowed: {DERIVE_RULE})")

    with np.errstate(all="ignore"):  # log(0), 1/0: -inf, inf and NaN runs are left out later
        try:
            result = value(tree.body)
        except RecursionError:
            raise DiscoveryError("an expression nested too deeply") from None
        except ArithmeticError as e:
            raise DiscoveryError(f"an arithmetic error ({type(e).__name__})") from None
    series = result if isinstance(result, pd.Series) else pd.Series(result, index=x.index)
    return series.astype(float)


def _from_sweep(path: Path) -> tuple[pd.DataFrame, list[str], str]:
    runs = load_runs(path, skip=[path / "discovery"])
    keys: list[str] = []
    files = sorted(set(runs.table.loc[runs.table["sample_index"] >= 0, "sample_file"].astype(str)) - {""})
    for f in files:
        try:
            _, meta = read_sample(resolve_sample_path(f, path))
            keys += meta["names"]
        except SensitivityError:
            pass
    runs = runs.with_parameters(keys)
    params = keys if keys else runs.parameters
    skipped = len(runs.unfinished) + len(runs.unreadable)
    note = f"{path}: {len(runs.table)} finished runs" + (f", {skipped} unfinished or unreadable skipped" if skipped
                                                         else "")
    return runs.table, list(dict.fromkeys(params)), note


def _from_table(path: Path) -> tuple[pd.DataFrame, list[str], str]:
    try:
        table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except (OSError, ValueError) as e:
        raise DiscoveryError(f"cannot read runs table {path} ({type(e).__name__})") from None
    params = [c for c in table.columns if c not in NOT_PARAMETERS and _is_config_key(str(c))]
    return table, params, f"{path}: {len(table)} runs"


def load_inputs(sources: Sequence[str | Path], outcome: str = OUTCOME, inputs: Sequence[str] = (),
                invert: bool = False, derive: Sequence[str] = ()) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """The inputs ``x`` (one numeric column per varying parameter) and the 0/1 outcome ``y``.

    Args:
        sources: Sweep directories or runs tables (pooled on their common parameters).
        outcome: Summary figure read as a boolean (non-zero = case of interest).
        inputs: Parameters to use (default: all sampled / varying numeric ones).
        invert: Cases of interest are runs where the outcome is 0.
        derive: Extra inputs ``NAME=EXPR``, ``EXPR`` an arithmetic expression over the parameters
            (dotted names in backticks; :func:`derive_column` says what is allowed), e.g.
            ``"ratio=`workshops.initial` / `imports.tariff`"``.

    Returns:
        ``(x, y, notes)``: runs with a missing outcome or input are left out (``notes`` says
        how many, and what each source held).

    Raises:
        DiscoveryError: a source is missing, an input or the outcome is absent, or fewer than
            two runs remain.
    """
    frames: list[pd.DataFrame] = []
    param_sets: list[list[str]] = []
    notes: list[str] = []
    for s in sources:
        path = Path(s)
        if path.is_dir():
            try:
                table, params, note = _from_sweep(path)
            except SensitivityError as e:
                raise DiscoveryError(str(e)) from None
        elif path.is_file():
            table, params, note = _from_table(path)
        else:
            raise DiscoveryError(f"sweep directory or runs table {path} does not exist")
        if outcome not in table.columns:
            raise DiscoveryError(f"{path} has no {outcome!r} column in its runs' summaries")
        frames.append(table)
        param_sets.append(params)
        notes.append(note)
    common = [p for p in param_sets[0] if all(p in ps for ps in param_sets[1:])]
    if inputs:
        missing = [k for k in inputs if not all(k in f.columns for f in frames)]
        if missing:
            raise DiscoveryError(f"input {missing[0]!r} is not a column of every source")
        common = list(inputs)
    table = pd.concat([f[[*common, outcome]] for f in frames], ignore_index=True)
    x = table[common].apply(pd.to_numeric, errors="coerce")
    for item in derive:
        name, sep, expr = item.partition("=")
        if not sep or not name.strip() or not expr.strip():
            raise DiscoveryError(f"--derive {item!r} is not NAME=EXPR")
        try:
            x[name.strip()] = derive_column(x, expr)
        except DiscoveryError as e:
            raise DiscoveryError(f"--derive {item!r}: {e}") from None
    x = x.loc[:, x.notna().any() & (x.nunique() > 1)]
    if x.shape[1] == 0:
        raise DiscoveryError("no numeric parameter varies across the runs")
    yv = table[outcome].map(lambda v: float(v) if isinstance(v, (bool, np.bool_)) else v)
    yv = pd.to_numeric(yv.replace({"True": 1.0, "False": 0.0}), errors="coerce")
    ok = yv.notna() & x.notna().all(axis=1)
    if (~ok).any():
        notes.append(f"{int((~ok).sum())} runs without {outcome} or an input left out")
    x = x[ok].reset_index(drop=True)
    y = (yv[ok].to_numpy() != 0)
    if invert:
        y = ~y
    if len(y) < 2:
        raise DiscoveryError(f"fewer than two runs with {outcome} ({len(y)})")
    return x, y, notes


# --------------------------------------------------------------------------------------------
# PRIM
# --------------------------------------------------------------------------------------------


@dataclass
class Box:
    """One PRIM box at its selected point on the peeling trajectory.

    Attributes:
        number: 1 for the first box found, 2 for the next, …
        coverage: Cases of interest inside the box / all cases of interest.
        density: Cases of interest inside the box / runs inside the box.
        mass: Runs inside the box / all runs.
        n: Runs inside the box.
        k: Cases of interest inside the box.
        limits: One row per restricted parameter: ``parameter``, ``low``, ``high``,
            ``range_low``, ``range_high``, ``qp_low``, ``qp_high``.
        trajectory: The peeling trajectory (``id``, ``coverage``, ``density``, ``mass``,
            ``res_dim``, ``n``, ``k``).
        chosen: Row of ``trajectory`` that was selected (after ``dropped``, the last row).
        dropped: Restrictions dropped from the selected box as not significant.
        selected: ``(coverage, density)`` of the box selected on the trajectory, before ``dropped``.
    """

    number: int
    coverage: float
    density: float
    mass: float
    n: int
    k: int
    limits: pd.DataFrame
    trajectory: pd.DataFrame
    chosen: int
    dropped: list[str]
    selected: tuple[float, float] = (math.nan, math.nan)

    def rule(self, digits: int = 3) -> str:
        """The box as a readable conjunction, e.g. ``workshops.initial >= 12 and imports.tariff <= 0.3``."""
        parts = []
        for r in self.limits.itertuples():
            lo = r.low > r.range_low
            hi = r.high < r.range_high
            f = _fmt(digits)
            if lo and hi:
                parts.append(f"{f(r.low)} <= {r.parameter} <= {f(r.high)}")
            elif lo:
                parts.append(f"{r.parameter} >= {f(r.low)}")
            elif hi:
                parts.append(f"{r.parameter} <= {f(r.high)}")
        return " and ".join(parts) or "(whole space)"


def _fmt(digits: int) -> Any:
    return lambda v: f"{v:.{digits}g}" if isinstance(v, float) and not float(v).is_integer() else f"{v:g}"


def _select(traj: pd.DataFrame, min_density: float, max_dims: int) -> int:
    """Row of the trajectory with the best F = 2cd/(c+d) among dense, simple-enough boxes."""
    c = traj["coverage"].to_numpy(dtype=float)
    d = traj["density"].to_numpy(dtype=float)
    f = np.where(c + d > 0, 2 * c * d / np.maximum(c + d, 1e-12), 0.0)
    simple = traj["res_dim"].to_numpy() <= max_dims
    dense = simple & (d >= min_density)
    pool = dense if dense.any() else simple if simple.any() else np.ones(len(traj), dtype=bool)
    return int(np.flatnonzero(pool)[np.argmax(f[pool])])


def find_boxes(x: pd.DataFrame, y: np.ndarray, *, max_boxes: int = MAX_BOXES, min_density: float = MIN_DENSITY,
               max_dims: int = MAX_DIMS, peel_alpha: float = 0.05, paste_alpha: float = 0.05,
               mass_min: float = 0.05, max_qp: float = MAX_QP) -> list[Box]:
    """PRIM boxes for the cases of interest ``y`` in the input space ``x``.

    The first box is always returned (if there is any case of interest); later boxes only while
    they reach ``min_density`` and hold at least ``mass_min`` of the runs.

    Args:
        x: Inputs, one numeric column per parameter.
        y: Boolean outcome (True = case of interest).
        max_boxes: Most boxes to find.
        min_density: Density a selected box should reach (see :func:`_select`).
        max_dims: Most restricted parameters of a selected box.
        peel_alpha: Share of runs peeled per step.
        paste_alpha: Share of runs pasted back per step.
        mass_min: Smallest box, as a share of all runs.
        max_qp: Restrictions whose quasi-p values all exceed this are dropped from a selected
            box (they do not separate cases from the rest better than chance).

    Returns:
        The boxes, first found first.
    """
    prim = import_prim()
    y = np.asarray(y, dtype=bool)
    if not y.any():
        return []
    x = x.reset_index(drop=True)
    integer = {c for c in x.columns if x[c].dtype.kind in "iu" or bool((x[c] % 1 == 0).all())}
    # ema_workbench 3.0 pastes midpoints such as 11.5 into integer columns, which pandas >= 3
    # refuses; PRIM on floats gives the same boxes, whose limits we round inwards for integers.
    xf = x.astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ema_workbench's own pandas deprecation warnings
        p = prim.Prim(xf, y.astype(int), peel_alpha=peel_alpha, paste_alpha=paste_alpha, mass_min=mass_min)
    full = p.box_init
    boxes: list[Box] = []
    remaining = np.ones(len(y), dtype=bool)
    for number in range(1, max_boxes + 1):
        if number > 1 and y[remaining].sum() < max(2, mass_min * len(y) / 2):
            break
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            box = p.find_box()
        if box is None:
            break
        traj = box.peeling_trajectory.reset_index(drop=True)
        i = _select(traj, min_density, max_dims)
        row = traj.iloc[i]
        if number > 1 and (row["density"] < min_density or row["mass"] < mass_min):
            break
        box.select(i)
        selected = (float(row["coverage"]), float(row["density"]))
        dropped = _drop_insignificant(box, full, max_qp)
        if dropped:
            i = len(box.peeling_trajectory) - 1
            traj = box.peeling_trajectory.reset_index(drop=True)
            row = traj.iloc[i]
        remaining[box.yi] = False
        lims = box.box_lims[i]
        qps = box.p_values[i]
        rows = []
        for c in x.columns:
            lo, hi = lims[c].iloc[0], lims[c].iloc[1]
            flo, fhi = full[c].iloc[0], full[c].iloc[1]
            if lo == flo and hi == fhi:
                continue
            qp = qps.get(c, [-1, -1])
            if c in integer:
                lo, hi, flo, fhi = math.ceil(lo), math.floor(hi), round(flo), round(fhi)
            rows.append({"parameter": c, "low": _num(lo), "high": _num(hi), "range_low": _num(flo),
                         "range_high": _num(fhi),
                         "qp_low": qp[0] if lo != flo and qp[0] >= 0 else math.nan,
                         "qp_high": qp[1] if hi != fhi and qp[1] >= 0 else math.nan})
        limits = pd.DataFrame(rows, columns=["parameter", "low", "high", "range_low", "range_high",
                                             "qp_low", "qp_high"])
        boxes.append(Box(number, float(row["coverage"]), float(row["density"]), float(row["mass"]),
                         int(row["n"]), int(row["k"]), limits,
                         traj[["id", "coverage", "density", "mass", "res_dim", "n", "k"]], i, dropped, selected))
    return boxes


def _significance(box: Any, i: int, full: pd.DataFrame) -> dict[str, float]:
    """Smallest quasi-p value of each restricted parameter of box ``i`` on the trajectory."""
    lims, out = box.box_lims[i], {}
    for c, qp in box.p_values[i].items():
        sides = [qp[0] if lims[c].iloc[0] != full[c].iloc[0] else -1, qp[1] if lims[c].iloc[1] != full[c].iloc[1]
                 else -1]
        vals = [v for v in sides if v is not None and v >= 0]
        if vals:
            out[c] = float(min(vals))
    return out


def _drop_insignificant(box: Any, full: pd.DataFrame, max_qp: float) -> list[str]:
    """Drop, worst first, restrictions whose quasi-p values all exceed ``max_qp`` (keeps at least one)."""
    dropped: list[str] = []
    while True:
        i = len(box.peeling_trajectory) - 1 if dropped else box._cur_box
        qp = _significance(box, i, full)
        if len(qp) <= 1:
            break
        worst = max(qp, key=lambda c: qp[c])
        if qp[worst] <= max_qp:
            break
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            box.drop_restriction(worst, i)
        dropped.append(worst)
    return dropped


def _num(v: Any) -> float | int:
    return int(v) if isinstance(v, (int, np.integer)) else float(v)


# --------------------------------------------------------------------------------------------
# A shallow decision tree as a cross-check
# --------------------------------------------------------------------------------------------


def tree_rules(x: pd.DataFrame, y: np.ndarray, max_depth: int = TREE_DEPTH, seed: int = 0) -> pd.DataFrame:
    """Leaves of a shallow classification tree that predict the outcome, as rules.

    Returns:
        Columns ``rule``, ``n``, ``k``, ``coverage``, ``density``; leaves whose majority is a
        case of interest, most cases first. Also ``attrs["importance"]``: Gini importance per
        parameter.
    """
    from sklearn.tree import DecisionTreeClassifier

    y = np.asarray(y, dtype=bool)
    leaf_min = max(5, int(0.02 * len(y)))
    tree = DecisionTreeClassifier(max_depth=max_depth, min_samples_leaf=leaf_min, random_state=seed)
    tree.fit(x.to_numpy(dtype=float), y)
    t = tree.tree_
    names = list(x.columns)
    leaf = tree.apply(x.to_numpy(dtype=float))
    total = max(int(y.sum()), 1)
    rows = []

    def walk(node: int, bounds: dict[str, list[float]]) -> None:
        if t.children_left[node] == -1:
            inside = leaf == node
            n, k = int(inside.sum()), int(y[inside].sum())
            if n and k / n > 0.5:
                f = _fmt(3)
                parts = []
                for name, (lo, hi) in bounds.items():
                    if lo > -math.inf and hi < math.inf:
                        parts.append(f"{f(lo)} < {name} <= {f(hi)}")
                    elif lo > -math.inf:
                        parts.append(f"{name} > {f(lo)}")
                    else:
                        parts.append(f"{name} <= {f(hi)}")
                rows.append({"rule": " and ".join(parts) or "(all runs)", "n": n, "k": k,
                             "coverage": k / total, "density": k / n})
            return
        name, thr = names[t.feature[node]], float(t.threshold[node])
        lo, hi = bounds.get(name, [-math.inf, math.inf])
        walk(t.children_left[node], {**bounds, name: [lo, min(hi, thr)]})
        walk(t.children_right[node], {**bounds, name: [max(lo, thr), hi]})

    walk(0, {})
    out = pd.DataFrame(rows, columns=["rule", "n", "k", "coverage", "density"]).sort_values("k", ascending=False)
    out.attrs["importance"] = dict(zip(names, tree.feature_importances_.tolist(), strict=True))
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def boxes_frame(boxes: Sequence[Box]) -> pd.DataFrame:
    """``boxes.csv``: one row per box and restricted parameter."""
    rows = []
    for b in boxes:
        head = {"box": b.number, "coverage": b.coverage, "density": b.density, "mass": b.mass, "n": b.n, "k": b.k}
        if b.limits.empty:
            rows.append(head)
        for r in b.limits.to_dict("records"):
            rows.append({**head, **r})
    return pd.DataFrame(rows)


def markdown(boxes: Sequence[Box], rules: pd.DataFrame, x: pd.DataFrame, y: np.ndarray, outcome: str,
             notes: Sequence[str], min_density: float = MIN_DENSITY, max_qp: float = MAX_QP) -> str:
    """The boxes and the tree's rules as a markdown report."""
    f = _fmt(3)
    lines = [f"# Scenario discovery: where is `{outcome}` true?", ""]
    lines += [f"- {n}" for n in notes]
    lines += [f"- {len(y)} runs, {int(y.sum())} cases of interest (base rate {y.mean():.2f}); "
              f"{x.shape[1]} parameters: {', '.join(f'`{c}`' for c in x.columns)}", ""]
    lines += ["## PRIM boxes", "",
              "Coverage = share of all cases of interest inside the box; density = share of the runs in the box "
              "that are cases of interest; mass = share of all runs in the box. Quasi-p: one-sided binomial test "
              "of each limit (small = the limit matters).", ""]
    if not boxes:
        lines += ["No case of interest: no box.", ""]
    for b in boxes:
        lines += [f"### Box {b.number}: coverage {b.coverage:.2f}, density {b.density:.2f}, mass {b.mass:.2f} "
                  f"({b.k} of {b.n} runs)", "", f"`{b.rule()}`", ""]
        if b.selected[1] < min_density:
            lines += [f"(No box on the trajectory reached density {min_density}; this is the best trade-off.)", ""]
        if b.dropped:
            lines += [f"The box selected on the peeling trajectory (coverage {b.selected[0]:.2f}, density "
                      f"{b.selected[1]:.2f}) also restricted " + ", ".join(f"`{d}`" for d in b.dropped)
                      + f"; dropped as not significant (quasi-p > {max_qp}).", ""]
        lines += ["| parameter | box low | box high | sampled range | quasi-p (low, high) |", "|---|---|---|---|---|"]
        for r in b.limits.itertuples():
            qp = ", ".join("–" if math.isnan(v) else f"{v:.1g}" for v in (r.qp_low, r.qp_high))
            lines.append(f"| `{r.parameter}` | {f(r.low)} | {f(r.high)} | {f(r.range_low)}–{f(r.range_high)} | {qp} |")
        lines.append("")
    lines += ["## Decision-tree rules (cross-check)", "",
              f"Leaves of a depth-{TREE_DEPTH} classification tree whose majority is a case of interest.", "",
              "| rule | runs | cases | coverage | density |", "|---|---|---|---|---|"]
    for r in rules.itertuples():
        lines.append(f"| `{r.rule}` | {r.n} | {r.k} | {r.coverage:.2f} | {r.density:.2f} |")
    imp = rules.attrs.get("importance", {})
    if imp:
        top = sorted(imp.items(), key=lambda kv: -kv[1])
        lines += ["", "Tree importance: " + ", ".join(f"`{k}` {v:.2f}" for k, v in top if v > 0)]
    return "\n".join(lines) + "\n"


def plot(boxes: Sequence[Box], rules: pd.DataFrame, x: pd.DataFrame, y: np.ndarray, outcome: str, path: Path) -> None:
    """Peeling trajectory of box 1, the limits of every box, and the runs on the two main axes."""
    fig, ax = new_figure(1, 3, figsize=(17, 5.2), constrained_layout=True)
    a = ax[0]
    if boxes:
        tr = boxes[0].trajectory
        sc = a.scatter(tr["coverage"], tr["density"], c=tr["res_dim"], cmap="viridis", s=22)
        a.plot(tr["coverage"].iloc[boxes[0].chosen], tr["density"].iloc[boxes[0].chosen], "o", mfc="none",
               mec="red", ms=14, mew=2, label="selected box")
        fig.colorbar(sc, ax=a, label="restricted parameters")
        a.legend(loc="lower left")
    a.set(title="Box 1: PRIM peeling trajectory", xlabel="coverage", ylabel="density", xlim=(0, 1.02),
          ylim=(0, 1.02))
    a = ax[1]
    labels: list[str] = []
    colors = matplotlib.colormaps.get_cmap("tab10")
    ypos = 0
    for b in boxes:
        for r in b.limits.itertuples():
            span = r.range_high - r.range_low or 1.0
            lo, hi = (r.low - r.range_low) / span, (r.high - r.range_low) / span
            a.barh(ypos, hi - lo, left=lo, height=0.5, color=colors(b.number - 1), alpha=0.7)
            a.text(lo, ypos, f"{_fmt(3)(r.low)} ", ha="right", va="center", fontsize=8)
            a.text(hi, ypos, f" {_fmt(3)(r.high)}", ha="left", va="center", fontsize=8)
            labels.append(f"box {b.number}: {r.parameter}")
            ypos += 1
    a.set_yticks(range(len(labels)), labels, fontsize=8)
    a.set_ylim(max(len(labels), 3) - 0.5, -0.5)
    a.set(xlim=(-0.25, 1.25), xlabel="position in the sampled range (0 = low, 1 = high)",
          title="Box limits" + "".join(f"\nbox {b.number}: coverage {b.coverage:.2f}, density {b.density:.2f}"
                                       for b in boxes))
    a.axvline(0, color="k", lw=0.5)
    a.axvline(1, color="k", lw=0.5)
    a = ax[2]
    imp = rules.attrs.get("importance", {})
    dims = list(boxes[0].limits["parameter"]) if boxes else []
    dims += [k for k, _ in sorted(imp.items(), key=lambda kv: -kv[1]) if k not in dims]
    dims += [c for c in x.columns if c not in dims]
    if len(dims) >= 2:
        dx, dy = dims[0], dims[1]
        a.scatter(x.loc[~y, dx], x.loc[~y, dy], s=12, c="tab:gray", alpha=0.6, label=f"not {outcome}")
        a.scatter(x.loc[y, dx], x.loc[y, dy], s=12, c="tab:orange", alpha=0.8, label=outcome)
        for b in boxes:
            lim = {r.parameter: (r.low, r.high) for r in b.limits.itertuples()}
            (x0, x1), (y0, y1) = (lim.get(dx, (x[dx].min(), x[dx].max())), lim.get(dy, (x[dy].min(), x[dy].max())))
            a.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec=colors(b.number - 1), lw=2,
                                  label=f"box {b.number}" + ("" if {dx, dy} >= set(lim) else " (projection)")))
        a.set(xlabel=dx, ylabel=dy, title="Runs on the two main parameters")
        a.legend(fontsize=8, loc="best")
    fig.savefig(path, dpi=100, format="png")


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m dmsim.discovery", description=__doc__.split("\n\n")[0])
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="sweep directory or runs table (csv/parquet)")
    p.add_argument("--out", default=None, help="output directory (default SOURCE/discovery for one sweep)")
    p.add_argument("--outcome", default=OUTCOME, help="summary figure read as 0/1 (default tipped)")
    p.add_argument("--invert", action="store_true", help="look for where the outcome is 0")
    p.add_argument("--inputs", default=None, help="comma-separated parameters (default: all sampled ones)")
    p.add_argument("--derive", action="append", default=[], metavar="NAME=EXPR",
                   help="extra input from the parameters, e.g. 'r=`workshops.initial` / `imports.tariff`' "
                        f"(allowed: {DERIVE_RULE}; repeatable)")
    p.add_argument("--min-density", type=float, default=MIN_DENSITY)
    p.add_argument("--max-dims", type=int, default=MAX_DIMS)
    p.add_argument("--max-boxes", type=int, default=MAX_BOXES)
    p.add_argument("--max-qp", type=float, default=MAX_QP, help="drop box limits with larger quasi-p values")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (2 with one line on stderr for bad input)."""
    args = build_parser().parse_args(argv)
    try:
        inputs = [s.strip() for s in args.inputs.split(",")] if args.inputs else []
        x, y, notes = load_inputs(args.sources, args.outcome, inputs, args.invert, args.derive)
        if args.out:
            out = Path(args.out)
        elif len(args.sources) == 1 and Path(args.sources[0]).is_dir():
            out = Path(args.sources[0]) / "discovery"
        else:
            raise DiscoveryError("give --out when the source is not one sweep directory")
    except DiscoveryError as e:
        print(f"dmsim.discovery: error: {e}", file=sys.stderr)
        return 2
    outcome = f"not {args.outcome}" if args.invert else args.outcome
    boxes = find_boxes(x, y, max_boxes=args.max_boxes, min_density=args.min_density, max_dims=args.max_dims,
                       max_qp=args.max_qp)
    rules = tree_rules(x, y)
    out.mkdir(parents=True, exist_ok=True)
    bf = boxes_frame(boxes)
    traj = pd.concat([b.trajectory.assign(box=b.number, chosen=b.trajectory.index == b.chosen) for b in boxes],
                     ignore_index=True) if boxes else pd.DataFrame()
    atomic_write(out / "boxes.csv", lambda p: bf.to_csv(p, index=False, float_format="%.6g"))
    atomic_write(out / "trajectory.csv", lambda p: traj.to_csv(p, index=False, float_format="%.6g"))
    atomic_write(out / "tree_rules.csv", lambda p: rules.to_csv(p, index=False, float_format="%.6g"))
    atomic_write(out / "discovery.md", lambda p: p.write_text(
        markdown(boxes, rules, x, y, outcome, notes, args.min_density, args.max_qp)))
    atomic_write(out / "discovery.png", lambda p: plot(boxes, rules, x, y, outcome, p))
    print(f"dmsim.discovery: {len(y)} runs, {int(y.sum())} with {outcome}; {'; '.join(notes)}")
    for b in boxes:
        print(f"  box {b.number}: coverage {b.coverage:.2f}, density {b.density:.2f}, mass {b.mass:.2f}: {b.rule()}")
    print(f"  wrote {out}/discovery.md, boxes.csv, trajectory.csv, tree_rules.csv, discovery.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
