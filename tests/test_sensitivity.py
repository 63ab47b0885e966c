"""Sensitivity analysis (SALib) and scenario discovery (PRIM): samples, analysis, boxes, CLIs."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from dmsim.sensitivity import (
    DEFAULT_N,
    DEFAULT_OUT,
    OUTPUTS,
    PARAMETERS,
    Parameter,
    Runs,
    align,
    draw_sample,
    expected_rows,
    main,
    read_sample,
    top_parameters,
    write_sample,
)

REPO = Path(__file__).resolve().parent.parent
D = len(PARAMETERS)
SMALL_RUN = ["steps=12", "region.buyer_groups=200"]


def test_problem_covers_the_parameters_each_within_the_schema(make_config):
    """At least 20 distinct keys, a rationale each, the default inside the range, and both ends
    of every range accepted by the schema (a config built with all lows, one with all highs)."""
    keys = [p.key for p in PARAMETERS]
    assert D >= 20 and len(set(keys)) == D
    assert {"workshops.initial", "services.internal_cost_scale", "scales.demand", "market.nest_rho",
            "finance.informal_rate_per_year", "workshops.entry_prospects_per_million_per_month"} <= set(keys)
    assert [p.key for p in PARAMETERS if p.integer] == ["workshops.initial"]
    default = make_config([])
    for end in ("low", "high"):
        values = {p.key: int(getattr(p, end)) if p.integer else float(getattr(p, end)) for p in PARAMETERS}
        cfg = make_config([f"{k}={v}" for k, v in values.items()])
        for p in PARAMETERS:
            got = cfg
            for part in p.key.split("."):
                got = getattr(got, part)
            assert got == pytest.approx(values[p.key]), p.key
    for p in PARAMETERS:
        assert p.low < p.high and len(p.rationale) > 40, p.key
        d = default
        for part in p.key.split("."):
            d = getattr(d, part)
        assert p.low <= d <= p.high, f"{p.key}: default {d} outside {p.low}-{p.high}"


@pytest.mark.parametrize("method,n,second_order,rows", [
    ("morris", 4, False, 4 * (D + 1)),
    ("sobol", 8, False, 8 * (D + 2)),
    ("sobol", 8, True, 8 * (2 * D + 2)),
    ("lhs", 30, False, 30),
])
def test_sample_has_the_right_shape_bounds_and_integer_keys(tmp_path, method, n, second_order, rows):
    table, meta = draw_sample(method, n, second_order=second_order, seed=1)
    assert len(table) == rows == expected_rows(method, n, D, second_order)
    assert list(table.columns) == [p.key for p in PARAMETERS]
    for p in PARAMETERS:
        col = table[p.key]
        assert col.between(p.low, p.high).all(), p.key
        if p.integer:
            assert col.dtype == np.int64
        else:
            assert col.dtype == np.float64
    assert table["workshops.initial"].nunique() > 1
    if method == "morris":  # a trajectory changes one parameter per step
        x = table.to_numpy(dtype=float).reshape(n, D + 1, D)
        assert ((np.diff(x, axis=1) != 0).sum(axis=2) == 1).all()
    path = tmp_path / "s.parquet"
    write_sample(table, meta, path)
    back, meta2 = read_sample(path)
    pd.testing.assert_frame_equal(back, table)
    assert meta2["method"] == method and meta2["names"] == [p.key for p in PARAMETERS]
    assert meta2["integer"] == ["workshops.initial"]
    assert meta2["selection"] is None and meta2["fixed"] == []


def test_sample_rows_are_valid_configs(tmp_path, make_config):
    """Every sampled key exists in the schema and its sampled values are allowed there."""
    table, meta = draw_sample("lhs", 8, seed=2)
    path = tmp_path / "s.parquet"
    write_sample(table, meta, path)
    for i in (int(table["workshops.initial"].idxmin()), int(table["workshops.initial"].idxmax())):
        cfg = make_config([f"sample.file={path}", f"sample.index={i}"])
        assert cfg.workshops.initial == table.loc[i, "workshops.initial"]
        assert isinstance(cfg.workshops.initial, int)
        assert cfg.imports.tariff == pytest.approx(table.loc[i, "imports.tariff"])


def test_sample_cli_writes_the_table(tmp_path, capsys):
    out = tmp_path / "m.parquet"
    assert main(["sample", "--method", "morris", "--n", "3", "--out", str(out)]) == 0
    assert len(pd.read_parquet(out)) == 3 * (D + 1)
    assert f"{3 * (D + 1)} rows" in capsys.readouterr().out
    assert main(["sample", "--method", "sobol", "--n", "6", "--out", str(tmp_path / "s.parquet")]) == 2
    assert "power of two" in capsys.readouterr().err


X_PARAMS = (Parameter("x1", 0.0, 1.0, rationale="matters"), Parameter("x2", 0.0, 1.0, rationale="does not"),
            Parameter("x3", 1, 10, integer=True, rationale="a little"))


def fake_sweep(root: Path, method: str, n: int, f, seeds=(0,)) -> tuple[Path, pd.DataFrame]:
    """Run directories as a dmsim sweep writes them, for outputs ``f(row, seed)`` of a sample of X_PARAMS."""
    table, meta = draw_sample(method, n, params=X_PARAMS, seed=3)
    sample = root / f"sample_{method}.parquet"
    write_sample(table, meta, sample)
    sweep = root / "multirun" / method
    for i, row in table.iterrows():
        for seed in seeds:
            d = sweep / f"sample.index={i},seed={seed}"
            (d / ".hydra").mkdir(parents=True)
            cfg = {"seed": seed, "scenario": "fake", "sample": {"file": str(sample), "index": int(i)},
                   **{p.key: int(row[p.key]) if p.integer else float(row[p.key]) for p in X_PARAMS}}
            (d / "config.yaml").write_text(yaml.safe_dump(cfg))
            (d / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"sample.index={i}", f"seed={seed}"]))
            (d / "summary.json").write_text(json.dumps({**f(row, seed), "seed": seed, "scenario": "fake"}))
    return sweep, table


def known(row: pd.Series, seed: int = 0) -> dict:
    """3 x1 + 0 x2 + a little x3 (+ 0.1 per seed); tipped when x1 > 0.6 (seed 0) or 0.5 (seed 1)."""
    y = 3.0 * row["x1"] + 0.0 * row["x2"] + 0.02 * row["x3"] + 0.1 * seed
    return {"dm_market_share_final": y, "tipped": bool(row["x1"] > 0.6 - 0.1 * seed), "workshops_active_final": 7.0}


def test_morris_analysis_ranks_the_parameter_that_matters_first(tmp_path, capsys):
    sweep, table = fake_sweep(tmp_path, "morris", 10, known)
    (sweep / "sample.index=5,seed=0" / "summary.json").unlink()  # an unfinished run: its trajectory is dropped
    out = tmp_path / "out"
    assert main(["analyse", str(sweep), "--method", "morris", "--out", str(out)]) == 0
    msg = capsys.readouterr().out
    assert "1 unfinished" in msg and "9/10 complete trajectories" in msg and "1 seed per sample row" in msg
    idx = pd.read_csv(out / "indices.csv")
    y = idx[idx["output"] == "dm_market_share_final"].set_index("parameter")
    assert y.loc["x1", "rank"] == 1 and y.loc["x2", "rank"] == 3
    assert y.loc["x1", "mu_star"] == pytest.approx(3.0, rel=0.02)  # effect over the full range
    assert y.loc["x2", "mu_star"] == pytest.approx(0.0, abs=1e-9)
    assert y.loc["x1", "mu_star_conf"] >= 0 and set(idx.columns) >= {"mu_star", "mu_star_conf", "sigma"}
    assert (y["n_runs"] == 9 * 4).all() and (y["n_seeds"] == 1).all()
    const = idx[idx["output"] == "workshops_active_final"]
    assert const["mu_star"].isna().all() and "constant" in const["note"].iloc[0]
    assert (out / "indices.png").read_bytes()[:4] == b"\x89PNG"
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == len(table) - 1 and {"seed", "x1", "x2", "x3", "tipped"} <= set(runs.columns)
    points = pd.read_csv(out / "points.csv")
    assert len(points) == len(table) - 1 and (points["n_seeds"] == 1).all()
    assert points["complete"].sum() == 9 * 4


def test_sobol_analysis_ranks_the_parameter_that_matters_first(tmp_path):
    sweep, _ = fake_sweep(tmp_path, "sobol", 64, known)
    out = tmp_path / "out"
    assert main(["analyse", str(sweep), "--out", str(out)]) == 0
    idx = pd.read_csv(out / "indices.csv")
    y = idx[idx["output"] == "dm_market_share_final"].set_index("parameter")
    assert y.loc["x1", "rank"] == 1
    assert y.loc["x1", "ST"] > 0.9 and y.loc["x1", "S1"] > 0.8
    assert abs(y.loc["x2", "ST"]) < 0.02 and abs(y.loc["x2", "S1"]) < y.loc["x2", "S1_conf"] + 0.05
    assert {"S1", "S1_conf", "ST", "ST_conf"} <= set(idx.columns)
    assert main(["analyse", str(sweep), "--method", "morris", "--out", str(out)]) == 2  # not a Morris sample
    # A sample that changed after the sweep is caught, not silently analysed.
    table, meta = read_sample(tmp_path / "sample_sobol.parquet")
    table["x1"] = table["x1"][::-1].to_numpy()
    write_sample(table, meta, tmp_path / "sample_sobol.parquet")
    assert main(["analyse", str(sweep), "--out", str(out)]) == 2


def test_align_averages_each_row_over_its_seeds_and_drops_blocks_with_a_missing_seed():
    """A hand-built runs table: 2 Morris trajectories of 4 rows x seeds 0, 1."""
    table, meta = draw_sample("morris", 2, params=X_PARAMS, seed=3)
    records = []
    for i in range(8):
        for seed in (0, 1):
            if (i, seed) == (5, 1):
                continue  # row 5 misses seed 1: trajectory 2 (rows 4-7) is incomplete
            records.append({"run_dir": f"r{i}_{seed}", "sample_index": i, "sample_file": "s.parquet",
                            "scenario": "fake", "seed": seed, "x1": table.loc[i, "x1"], "x2": table.loc[i, "x2"],
                            "x3": table.loc[i, "x3"], "y": 10.0 * i + 4.0 * seed, "tipped": seed == 0,
                            "cost": None if (i, seed) == (2, 1) else 1.0 + i, "label": "text"})
    records.append({**records[0], "run_dir": "again", "y": 0.0})  # a duplicate run: the last one counts
    t = pd.DataFrame(records)
    runs = Runs(t, t, ["x1", "x2", "x3"], [], [])
    points, aligned, counts = align(runs, table, meta)
    assert counts["seeds"] == [0, 1] and counts["n_seeds"] == 2 and counts["duplicates"] == 1
    assert (counts["rows_complete"], counts["rows_expected"]) == (7, 8)
    assert (counts["blocks_complete"], counts["blocks_expected"]) == (1, 2)
    p = points.set_index("sample_index")
    assert list(p.index) == list(range(8)) and "label" not in p.columns
    assert p.loc[0, "y"] == pytest.approx(2.0)  # (0 + 4) / 2: the duplicate with y = 0 replaced run r0_0
    assert p.loc[3, "y"] == pytest.approx(32.0) and p.loc[3, "tipped"] == pytest.approx(0.5)
    assert p.loc[5, "y"] == pytest.approx(50.0) and p.loc[5, "n_seeds"] == 1  # its one seed only
    assert p.loc[3, "cost"] == pytest.approx(4.0) and np.isnan(p.loc[2, "cost"])  # missing in one seed
    assert p.loc[3, "x1"] == table.loc[3, "x1"]
    assert list(p["complete"]) == [True] * 4 + [False] * 4
    assert list(aligned["sample_index"]) == [0, 1, 2, 3] and (aligned["n_seeds"] == 2).all()
    # One seed per row is the special case: every row complete.
    one = t[(t["seed"] == 0) & (t["run_dir"] != "again")]
    _, aligned1, counts1 = align(Runs(one, one, ["x1", "x2", "x3"], [], []), table, meta)
    assert counts1["n_seeds"] == 1 and counts1["blocks_complete"] == 2 and len(aligned1) == 8
    assert aligned1["y"].tolist() == [10.0 * i for i in range(8)]


def test_morris_with_two_seeds_averages_and_drops_a_trajectory_missing_a_seed(tmp_path, capsys):
    sweep, table = fake_sweep(tmp_path, "morris", 10, known, seeds=(0, 1))
    (sweep / "sample.index=5,seed=1" / "summary.json").unlink()
    out = tmp_path / "out"
    assert main(["analyse", str(sweep), "--out", str(out)]) == 0
    msg = capsys.readouterr().out
    assert "2 seeds per sample row (0, 1)" in msg and "39/40 sample rows with every seed" in msg
    assert "9/10 complete trajectories" in msg
    idx = pd.read_csv(out / "indices.csv")
    y = idx[idx["output"] == "dm_market_share_final"].set_index("parameter")
    assert (y["n_rows"] == 9 * 4).all() and (y["n_seeds"] == 2).all() and (y["n_runs"] == 9 * 4 * 2).all()
    assert y.loc["x1", "rank"] == 1 and y.loc["x1", "mu_star"] == pytest.approx(3.0, rel=0.02)
    assert y.loc["x2", "mu_star"] == pytest.approx(0.0, abs=1e-9)  # the seed shift cancels in every step
    points = pd.read_csv(out / "points.csv").set_index("sample_index")
    row = table.loc[7]
    assert points.loc[7, "dm_market_share_final"] == pytest.approx(3 * row["x1"] + 0.02 * row["x3"] + 0.05)
    assert points.loc[7, "tipped"] == pytest.approx(((row["x1"] > 0.6) + (row["x1"] > 0.5)) / 2)
    assert points.loc[5, "n_seeds"] == 1 and not points.loc[5, "complete"]
    assert len(pd.read_csv(out / "runs.csv")) == 2 * len(table) - 1


def test_keys_restrict_the_problem_and_travel_in_the_metadata(tmp_path, capsys):
    out = tmp_path / "s.parquet"
    assert main(["sample", "--method", "sobol", "--n", "8", "--keys", "imports.tariff, workshops.initial",
                 "--out", str(out)]) == 0
    table, meta = read_sample(out)
    assert list(table.columns) == ["workshops.initial", "imports.tariff"]  # in the problem's order
    assert len(table) == 8 * (2 + 2) and meta["names"] == list(table.columns)
    assert meta["selection"]["by"] == "keys" and meta["selection"]["keys"] == meta["names"]
    assert len(meta["fixed"]) == D - 2 and "scales.demand" in meta["fixed"]
    assert [p["key"] for p in meta["parameters"]] == meta["names"]
    capsys.readouterr()
    for bad, why in ((["--keys", "imports.tariff,no.such"], "unknown parameter 'no.such'"),
                     (["--keys", "imports.tariff,imports.tariff"], "twice"),
                     (["--keys", "imports.tariff", "--top", "2", "--from", str(tmp_path)], "not both"),
                     (["--top", "2"], "--top needs --from"),
                     (["--from", str(tmp_path)], "--from needs --top")):
        assert main(["sample", "--method", "sobol", "--n", "8", *bad, "--out", str(out)]) == 2
        assert why in capsys.readouterr().err


def test_top_takes_the_largest_mu_star_on_any_output_across_scales(tmp_path, capsys):
    """mu* is compared within each output (outputs have different units), then the best over outputs."""
    rows = []
    usd = {"scales.demand": 2e6, "imports.tariff": 1e6, "labour.wage_usd_per_hour": 3e5, "market.nest_rho": 1e3}
    share = {"scales.demand": 0.01, "imports.tariff": 0.02, "services.provider_outreach": 0.4,
             "market.nest_rho": 0.1}
    for out, vals in (("consumer_surplus_usd_total", usd), ("tipped", share)):
        for p in PARAMETERS:
            rows.append({"method": "morris", "output": out, "parameter": p.key, "mu_star": vals.get(p.key, 0.0)})
    for p in PARAMETERS:  # an output without indices is ignored
        rows.append({"method": "morris", "output": "workshops_active_final", "parameter": p.key,
                     "mu_star": float("nan")})
    morris = tmp_path / "morris"
    morris.mkdir()
    pd.DataFrame(rows).to_csv(morris / "indices.csv", index=False)
    # scores: demand 1, outreach 1, tariff 0.5, nest_rho 0.25, wage 0.15
    for n, want in ((2, {"scales.demand", "services.provider_outreach"}),
                    (3, {"scales.demand", "services.provider_outreach", "imports.tariff"}),
                    (4, {"scales.demand", "services.provider_outreach", "imports.tariff", "market.nest_rho"})):
        chosen, scores = top_parameters(morris, n)
        assert {p.key for p in chosen} == want
        assert [p.key for p in chosen] == [p.key for p in PARAMETERS if p.key in want]
    assert scores["imports.tariff"] == pytest.approx(0.5) and scores["market.nest_rho"] == pytest.approx(0.25)
    out = tmp_path / "sobol.parquet"
    assert main(["sample", "--method", "sobol", "--n", "8", "--top", "3", "--from", str(morris),
                 "--out", str(out)]) == 0
    table, meta = read_sample(out)
    assert set(table.columns) == {"scales.demand", "services.provider_outreach", "imports.tariff"}
    assert len(table) == 8 * (3 + 2)
    sel = meta["selection"]
    assert sel["by"] == "top" and sel["top"] == 3 and sel["from"].endswith("indices.csv")
    assert sel["scores"]["scales.demand"] == 1.0 and len(meta["fixed"]) == D - 3
    capsys.readouterr()
    only_nan = pd.DataFrame(rows)
    only_nan = only_nan[only_nan["output"] == "workshops_active_final"]
    only_nan.to_csv(morris / "indices.csv", index=False)
    assert main(["sample", "--method", "sobol", "--n", "8", "--top", "1", "--from", str(morris),
                 "--out", str(out)]) == 2
    assert "only 0 parameters have indices" in capsys.readouterr().err
    only_nan.assign(parameter="x1").to_csv(morris / "indices.csv", index=False)
    assert main(["sample", "--method", "sobol", "--top", "1", "--from", str(morris), "--out", str(out)]) == 2
    assert "'x1', which is not in the problem" in capsys.readouterr().err


def test_top_from_a_morris_analysis_picks_the_parameter_that_matters(tmp_path):
    sweep, _ = fake_sweep(tmp_path, "morris", 10, known, seeds=(0, 1))
    assert main(["analyse", str(sweep), "--out", str(tmp_path / "morris")]) == 0
    chosen, scores = top_parameters(tmp_path / "morris", 1, params=X_PARAMS)
    assert [p.key for p in chosen] == ["x1"] and scores["x1"] == 1.0
    assert next(iter(scores)) == "x1"


def test_discovery_recovers_the_threshold_box():
    from dmsim.discovery import find_boxes, tree_rules

    rng = np.random.default_rng(0)
    x = pd.DataFrame({"x1": rng.uniform(0, 1, 400), "x2": rng.uniform(0, 1, 400), "k": rng.integers(5, 41, 400)})
    y = (x["x1"] > 0.6).to_numpy()
    boxes = find_boxes(x, y)
    b = boxes[0]
    lim = b.limits.set_index("parameter")
    assert list(lim.index) == ["x1"]  # only x1 is restricted
    assert lim.loc["x1", "low"] == pytest.approx(0.6, abs=0.03)
    assert lim.loc["x1", "high"] == pytest.approx(x["x1"].max())
    assert b.coverage > 0.95 and b.density > 0.95
    assert b.rule().startswith("x1 >= 0.")
    rules = tree_rules(x, y)
    assert rules["rule"].iloc[0].startswith("x1 > 0.") and rules["density"].iloc[0] == 1.0


def test_discovery_cli_on_a_runs_table(tmp_path):
    rng = np.random.default_rng(1)
    runs = pd.DataFrame({"workshops.initial": rng.integers(5, 41, 300),
                         "imports.tariff": rng.uniform(0, 0.4, 300), "seed": 0})
    runs["tipped"] = runs["workshops.initial"] >= 20
    runs.to_csv(tmp_path / "runs.csv", index=False)
    from dmsim.discovery import main as discover

    assert discover([str(tmp_path / "runs.csv"), "--out", str(tmp_path / "d")]) == 0
    boxes = pd.read_csv(tmp_path / "d" / "boxes.csv")
    first = boxes[boxes["box"] == 1].set_index("parameter")
    assert list(first.index) == ["workshops.initial"]
    low = first.loc["workshops.initial", "low"]
    assert low == int(low) and abs(low - 20) <= 1  # integer limits are integers; PRIM peels in steps
    assert first["coverage"].iloc[0] > 0.95 and first["density"].iloc[0] > 0.95
    assert "coverage" in (tmp_path / "d" / "discovery.md").read_text()
    assert (tmp_path / "d" / "discovery.png").read_bytes()[:4] == b"\x89PNG"
    # A diagonal boundary is one limit on a derived input.
    runs["tipped"] = runs["workshops.initial"] > 50 * runs["imports.tariff"] + 5
    runs.to_csv(tmp_path / "runs.csv", index=False)
    derive = "r=`workshops.initial` / (50 * `imports.tariff` + 5)"
    assert discover([str(tmp_path / "runs.csv"), "--derive", derive, "--out", str(tmp_path / "e")]) == 0
    boxes = pd.read_csv(tmp_path / "e" / "boxes.csv")
    first = boxes[boxes["box"] == 1].set_index("parameter")
    assert "r" in first.index and first.loc["r", "low"] == pytest.approx(1.0, abs=0.1)
    assert discover([str(tmp_path / "runs.csv"), "--derive", "r=", "--out", str(tmp_path / "e")]) == 2


@pytest.mark.parametrize("module,args", [
    ("dmsim.sensitivity", ["analyse", "no/such/sweep", "--method", "morris"]),
    ("dmsim.discovery", ["no/such/sweep"]),
])
def test_clis_fail_with_one_clear_line_on_a_missing_sweep(tmp_path, module, args):
    r = subprocess.run([sys.executable, "-m", module, *args], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "no/such/sweep" in lines[0] and "does not exist" in lines[0]


def test_sensitivity_experiment_sweeps_each_row_with_two_seeds_and_analyses(tmp_path):
    """``python -m dmsim -m +experiment=sensitivity`` on a tiny Morris sample (3 parameters, 2
    trajectories: 8 rows x seeds 0, 1 = 16 runs, 12 months), then ``analyse``."""
    sample = tmp_path / "m.parquet"
    keys = "workshops.initial,imports.tariff,services.internal_cost_scale"
    assert main(["sample", "--method", "morris", "--n", "2", "--keys", keys, "--out", str(sample)]) == 0
    sweep = tmp_path / "sweep"
    r = subprocess.run([sys.executable, "-m", "dmsim", "-m", "+experiment=sensitivity", *SMALL_RUN,
                        f"sample.file={sample}", "sample.index=range(0,8)", f"hydra.sweep.dir={sweep}"],
                       cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    table = pd.read_parquet(sample)
    dirs = sorted(p.parent for p in sweep.rglob("summary.json"))
    assert len(dirs) == 16
    for run in dirs[:3]:
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        i = cfg["sample"]["index"]
        assert cfg["scenario"] == "baseline" and cfg["network"]["type"] == "mesh" and cfg["seed"] in (0, 1)
        assert cfg["workshops"]["initial"] == table.loc[i, "workshops.initial"]
        assert cfg["services"]["internal_cost_scale"] == pytest.approx(table.loc[i, "services.internal_cost_scale"])
        assert cfg["services"]["provider_fixed_cost_scale"] == 1.0  # not sampled: at its config value
        assert not (run / "dashboard.png").exists()
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "dmsim.sensitivity", "analyse", str(sweep), "--method", "morris",
                        "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "2 seeds per sample row (0, 1)" in r.stdout and "2/2 complete trajectories" in r.stdout
    idx = pd.read_csv(out / "indices.csv")
    assert set(idx["parameter"]) == set(keys.split(",")) and set(idx["output"]) == set(OUTPUTS)
    assert (idx["n_seeds"] == 2).all() and (idx["n_runs"] == 16).all()
    assert idx.loc[idx["output"] == "workshops_active_final", "mu_star"].notna().all()
    assert len(pd.read_csv(out / "runs.csv")) == 16
    points = pd.read_csv(out / "points.csv")
    assert len(points) == 8 and (points["n_seeds"] == 2).all() and points["tipped"].between(0, 1).all()


def test_experiment_configs_match_the_default_samples():
    """The sweeps' row ranges are the default samples' sizes; sensitivity has seeds 0, 1, discovery one."""
    sens = yaml.safe_load((REPO / "configs" / "experiment" / "sensitivity.yaml").read_text())
    disc = yaml.safe_load((REPO / "configs" / "experiment" / "discovery.yaml").read_text())
    morris_rows = expected_rows("morris", DEFAULT_N["morris"], D)
    sobol_rows = expected_rows("sobol", DEFAULT_N["sobol"], 10)
    params = sens["hydra"]["sweeper"]["params"]
    assert params["sample.index"] == f"range(0,{morris_rows})" and str(params["seed"]) == "0,1"
    assert sens["sample"]["file"] == str(DEFAULT_OUT["morris"]) and sens["network"]["type"] == "mesh"
    assert "/scenario: baseline" in (REPO / "configs" / "experiment" / "sensitivity.yaml").read_text()
    params = disc["hydra"]["sweeper"]["params"]
    assert params["sample.index"] == f"range(0,{DEFAULT_N['lhs']})" and params["seed"] == 0
    script = (REPO / "scripts" / "experiments.sh").read_text()
    assert f"range(0,{morris_rows})" in script and f"range(0,{sobol_rows})" in script and "--top 10" in script
