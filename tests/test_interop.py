"""dmsim from Mesa, EMA workbench, SALib and dataframe tools (docs/interop.md), at a tiny size."""

from __future__ import annotations

import math
import multiprocessing
import re
import shlex
import subprocess
import sys
import warnings
from pathlib import Path

import mesa
import numpy as np
import pandas as pd
import pytest

from dmsim.config import ConfigError
from dmsim.model import DMModel
from dmsim.run import compose_config, run

SMALL = {"region.population": 200_000, "region.buyer_groups": 300}
SMALL_ARGS = [f"{k}={v}" for k, v in SMALL.items()]
DOC = Path(__file__).resolve().parent.parent / "docs" / "interop.md"


@pytest.fixture(autouse=True)
def _keep_start_method():
    """mesa.batch_run forces the 'spawn' start method on the whole process: put it back."""
    method = multiprocessing.get_start_method(allow_none=True)
    yield
    multiprocessing.set_start_method(method, force=True)


def cli_run(*overrides: str):
    """The run ``python -m dmsim OVERRIDES`` makes (its RunResult)."""
    return run(compose_config([*overrides, *SMALL_ARGS]))


# ------------------------------------------------------------------------------------- Mesa
def test_batch_run_rows_equal_the_command_line_runs():
    rows = mesa.batch_run(DMModel, parameters={"seed": [0, 1], "imports.tariff": [0.1, 0.3], "steps": 6, **SMALL},
                          max_steps=6, display_progress=False)
    assert sorted((r["seed"], r["imports.tariff"]) for r in rows) == [(0, 0.1), (0, 0.3), (1, 0.1), (1, 0.3)]
    for r in rows:
        last = cli_run(f"seed={r['seed']}", f"imports.tariff={r['imports.tariff']}", "steps=6").timeseries.iloc[-1]
        assert r["Step"] == 6
        for col, value in last.items():
            assert r[col] == pytest.approx(value, rel=0, abs=0, nan_ok=True), col
    by_seed = {r["seed"]: r["dm_units"] for r in rows if r["imports.tariff"] == 0.1}
    assert by_seed[0] != by_seed[1]  # the swept seed reached the model


def test_run_model_stops_at_steps_and_run_is_unchanged():
    model = DMModel(steps=5, **SMALL)
    model.run_model()  # returns: running turned False
    assert (model.month, model.steps, model.running) == (5, 5, False)
    before = DMModel(compose_config(["steps=5", *SMALL_ARGS]))
    before.run()
    pd.testing.assert_frame_equal(before.metrics.frame(), model.metrics.frame())
    rows = mesa.batch_run(DMModel, parameters={"steps": 4, **SMALL}, max_steps=1000, display_progress=False)
    assert [r["Step"] for r in rows] == [4]


def test_datacollector_holds_the_timeseries_columns(tmp_path):
    result = run(compose_config(["steps=4", "+scenario=shared_services", *SMALL_ARGS]), tmp_path)
    frame = result.model.datacollector.get_model_vars_dataframe()
    written = pd.read_parquet(tmp_path / "timeseries.parquet")
    assert list(frame.columns) == list(written.columns)
    pd.testing.assert_frame_equal(frame, result.model.metrics.frame())
    assert len(frame) == 4


def test_rng_sets_the_seed():
    by_rng = DMModel(rng=5, steps=3, **SMALL)
    by_rng.run_model()
    assert by_rng.cfg.seed == 5
    pd.testing.assert_frame_equal(by_rng.metrics.frame(), cli_run("seed=5", "steps=3").timeseries)
    drawn = DMModel(rng=np.random.default_rng(7), steps=1, **SMALL).cfg.seed
    assert drawn == int(np.random.default_rng(7).integers(np.iinfo(np.int32).max))
    assert DMModel(rng=np.random.default_rng(8), steps=1, **SMALL).cfg.seed != drawn
    assert DMModel(steps=1, **SMALL).cfg.seed == 0  # no seed: the config's, reproducible


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"rng": 1, "seed": 2}, "rng=1 is not allowed: give rng or seed, not both"),
    ({"cfg": "CFG", "seed": 2}, "seed=2 is not allowed: not with cfg="),
    ({"no_such_key": 1}, "no_such_key=1 is not allowed: unknown key"),
    ({"scenario": "nope"}, "scenario='nope' is not allowed: one of baseline"),
    ({"network.coordination": 2.0}, "network.coordination=2.0 is not allowed: must be >= 0 and <= 1"),
])
def test_bad_keywords_fail_with_one_line(kwargs, message):
    if kwargs.get("cfg") == "CFG":
        kwargs = {**kwargs, "cfg": compose_config(["steps=1"])}
    with pytest.raises(ConfigError) as e:
        DMModel(**kwargs)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_positional_config_and_keywords_compose_alike():
    cfg = compose_config(["+scenario=hub_spoke", "imports.tariff=0.25", "workshops.initial=7", "steps=2"])
    assert DMModel(cfg).cfg == cfg
    assert DMModel("hub_spoke", **{"imports.tariff": 0.25, "workshops.initial": np.int64(7)}, steps=2).cfg == cfg


# ------------------------------------------------------------------------------------- EMA
def _ema_model(**kw):
    import dmsim.ema

    return dmsim.ema.model({"imports.tariff": (0.0, 0.4), "workshops.initial": (5, 40),
                            "scenario": ["baseline", "shared_services"]},
                           outcomes=["tipped", "dm_market_share_final", "workshops_active_final"],
                           steps=6, seed=0, **SMALL, **kw)


def test_ema_parameters_follow_the_schema():
    from ema_workbench import CategoricalParameter, IntegerParameter, RealParameter

    m = _ema_model()
    kinds = {p.name: (type(p), p.variable_name) for p in m.uncertainties}
    assert kinds == {"imports__tariff": (RealParameter, ["imports.tariff"]),
                     "workshops__initial": (IntegerParameter, ["workshops.initial"]),
                     "dmsim_scenario": (CategoricalParameter, ["scenario"])}
    with pytest.raises(ConfigError, match="imports.tariff"):
        _ema_model(**{"imports.tariff": 0.1})  # fixed and varied
    import dmsim.ema

    with pytest.raises(ConfigError, match="no.such"):
        dmsim.ema.model({"no.such": (0, 1)})


def test_ema_sequential_experiments_are_dmsim_runs_and_prim_runs():
    from ema_workbench import SequentialEvaluator
    from ema_workbench.analysis import prim

    import dmsim.ema

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with SequentialEvaluator(_ema_model()) as ev:
            experiments, outcomes = ev.perform_experiments(scenarios=4)
    assert len(experiments) == 4
    assert experiments["workshops__initial"].between(5, 40).all()
    assert (experiments["workshops__initial"] % 1 == 0).all()
    for i in (0, 3):
        e = experiments.iloc[i]
        s = cli_run(f"+scenario={e['dmsim_scenario']}", f"imports.tariff={float(e['imports__tariff'])!r}",
                    f"workshops.initial={int(e['workshops__initial'])}", "steps=6", "seed=0").summary
        assert outcomes["dm_market_share_final"][i] == s["dm_market_share_final"]
        assert outcomes["workshops_active_final"][i] == s["workshops_active_final"]
    x, y = dmsim.ema.prim_inputs(experiments, outcomes, "dm_market_share_final")
    assert list(x.columns) == ["imports__tariff", "workshops__initial", "dmsim_scenario"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        box = prim.Prim(x, y > np.median(y)).find_box()
    assert box is not None


def test_ema_multiprocessing_gives_the_sequential_results():
    from ema_workbench import MultiprocessingEvaluator

    import dmsim.ema

    m = dmsim.ema.model({"imports.tariff": (0.0, 0.4), "workshops.initial": (5, 40)},
                        outcomes=["dm_market_share_final"], steps=6, seed=0, **SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with MultiprocessingEvaluator(m, n_processes=2) as ev:
            experiments, outcomes = ev.perform_experiments(scenarios=4)
    for i, e in experiments.iterrows():
        here = dmsim.ema.run_summary(**{"imports.tariff": e["imports__tariff"],
                                        "workshops.initial": int(e["workshops__initial"]), "steps": 6, "seed": 0,
                                        **SMALL})
        assert outcomes["dm_market_share_final"][i] == here["dm_market_share_final"]


def test_prim_inputs_make_pandas3_safe_columns():
    """ema_workbench 3.0 pastes midpoints into integer columns, which pandas 3 refuses."""
    from ema_workbench.analysis import prim

    import dmsim.ema

    rng = np.random.default_rng(1)
    exp = pd.DataFrame({"a": rng.random(60), "b": rng.integers(5, 30, 60), "c": rng.integers(0, 10, 60),
                        "scenario": pd.Categorical(range(60)), "model": "dmsim"})
    y = ((exp["a"] > 0.3) & (exp["b"] > 12) | (rng.random(60) < 0.1)).to_numpy()
    x, yy = dmsim.ema.prim_inputs(exp, {"tipped": y})
    assert list(x.columns) == ["a", "b", "c"] and (x.dtypes == "float64").all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        box = prim.Prim(x, yy).find_box()
        for i in range(len(box.peeling_trajectory)):
            box.select(i)


# ------------------------------------------------------------------------------------- SALib
def test_salib_sobol_loop_on_dmsim_runs():
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import sobol as sobol_sample

    from dmsim.sensitivity import PARAMETERS, evaluate, salib_problem

    problem = salib_problem({"imports.tariff": (0.0, 0.4), "workshops.initial": (5, 40)})
    assert problem["bounds"] == [[0.0, 0.4], [5.0, 41.0]]
    assert salib_problem()["names"] == [p.key for p in PARAMETERS]
    X = sobol_sample.sample(problem, 2, calc_second_order=False, seed=1)
    Y = evaluate(problem, X, "dm_market_share_final", steps=6, **SMALL)
    assert Y.shape == (len(X),) and Y.dtype == np.float64 and np.isfinite(Y).all()
    direct = cli_run(f"imports.tariff={float(X[0, 0])!r}", f"workshops.initial={math.floor(X[0, 1])}",
                     "steps=6", "seed=0").summary["dm_market_share_final"]
    assert Y[0] == direct
    Si = sobol_analyze.analyze(problem, Y, calc_second_order=False, seed=1)
    assert Si["ST"].shape == (2,)
    # Integer keys are floored and clipped to [low, high]; tipped averages to a share.
    edge = np.array([[0.1, 40.99], [0.1, 41.0]])
    tipped = evaluate(problem, edge, "tipped", steps=2, seed=[0, 1], **SMALL)
    assert set(tipped) <= {0.0, 0.5, 1.0}
    assert evaluate(problem, edge, "workshops_active_final", steps=1, **SMALL).tolist() == [40.0, 40.0]


def test_salib_bad_input_is_one_line():
    from dmsim.sensitivity import SensitivityError, evaluate, salib_problem

    with pytest.raises(ConfigError, match="no.such"):
        salib_problem({"no.such": (0, 1)})
    problem = salib_problem({"imports.tariff": (0.0, 0.4)})
    with pytest.raises(SensitivityError, match="shape"):
        evaluate(problem, np.zeros((3, 2)), "tipped")
    with pytest.raises(ConfigError, match="imports.tariff"):
        evaluate(problem, np.array([[-1.0]]), "tipped", steps=1, **SMALL)


# ------------------------------------------------------------------------------------- the page
def doc_sections() -> dict[str, list[tuple[str, str]]]:
    """``{section title: [(language, code), ...]}`` of docs/interop.md's fenced blocks."""
    sections: dict[str, list[tuple[str, str]]] = {}
    title = ""
    for part in re.split(r"^(## .*)$", DOC.read_text(), flags=re.M):
        if part.startswith("## "):
            title = part[3:].strip()
            continue
        blocks = re.findall(r"^```(\w+)\n(.*?)^```", part, flags=re.M | re.S)
        if blocks:
            sections[title] = blocks
    return sections


def test_the_page_has_its_sections():
    titles = re.findall(r"^## (.*)$", DOC.read_text(), flags=re.M)
    assert titles == ["Mesa", "EMA workbench", "SALib", "Reading a sweep's files", "Notebooks with papermill",
                      "Hydra sweepers and optimisers"]
    assert set(doc_sections()) >= {"Mesa", "EMA workbench", "SALib", "Reading a sweep's files"}


@pytest.mark.parametrize("section", list(doc_sections()))
def test_doc_snippets_run(section, tmp_path, monkeypatch):
    """Every code block of the section, in order, in a fresh directory (bash lines as commands)."""
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__main__"}
    for lang, code in doc_sections()[section]:
        if lang == "python":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                exec(compile(code, f"{DOC.name} ({section})", "exec"), namespace)  # noqa: S102
        elif lang == "bash":
            for line in code.replace("\\\n", " ").splitlines():
                if line.strip():
                    args = [sys.executable if a == ".venv/bin/python" else a for a in shlex.split(line)]
                    subprocess.run(args, check=True, capture_output=True, text=True)
        else:
            pytest.fail(f"a {lang} block in {section}: this test runs python and bash only")
