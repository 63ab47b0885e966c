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
    PARAMETERS,
    Parameter,
    draw_sample,
    expected_rows,
    main,
    read_sample,
    write_sample,
)

REPO = Path(__file__).resolve().parent.parent
D = len(PARAMETERS)


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
    assert D >= 8
    for p in PARAMETERS:
        col = table[p.key]
        assert col.between(p.low, p.high).all(), p.key
        assert p.rationale
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
    assert "36 rows" in capsys.readouterr().out
    assert main(["sample", "--method", "sobol", "--n", "6", "--out", str(tmp_path / "s.parquet")]) == 2
    assert "power of two" in capsys.readouterr().err


X_PARAMS = (Parameter("x1", 0.0, 1.0, rationale="matters"), Parameter("x2", 0.0, 1.0, rationale="does not"),
            Parameter("x3", 1, 10, integer=True, rationale="a little"))


def fake_sweep(root: Path, method: str, n: int, f) -> tuple[Path, pd.DataFrame]:
    """Run directories as a dmsim sweep writes them, for outputs ``f(row)`` of a sample."""
    table, meta = draw_sample(method, n, params=X_PARAMS, seed=3)
    sample = root / f"sample_{method}.parquet"
    write_sample(table, meta, sample)
    sweep = root / "multirun" / method
    for i, row in table.iterrows():
        d = sweep / f"sample.index={i}"
        (d / ".hydra").mkdir(parents=True)
        cfg = {"seed": 0, "scenario": "fake", "sample": {"file": str(sample), "index": int(i)},
               "x1": float(row["x1"]), "x2": float(row["x2"]), "x3": int(row["x3"])}
        (d / "config.yaml").write_text(yaml.safe_dump(cfg))
        (d / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"sample.index={i}"]))
        (d / "summary.json").write_text(json.dumps({**f(row), "seed": 0, "scenario": "fake"}))
    return sweep, table


def known(row: pd.Series) -> dict:
    """3 x1 + 0 x2 + a little x3; tipped when x1 > 0.6."""
    y = 3.0 * row["x1"] + 0.0 * row["x2"] + 0.02 * row["x3"]
    return {"dm_market_share_final": y, "tipped": bool(row["x1"] > 0.6), "workshops_active_final": 7.0}


def test_morris_analysis_ranks_the_parameter_that_matters_first(tmp_path, capsys):
    sweep, table = fake_sweep(tmp_path, "morris", 10, known)
    (sweep / "sample.index=5" / "summary.json").unlink()  # an unfinished run: its trajectory is dropped
    out = tmp_path / "out"
    assert main(["analyse", str(sweep), "--method", "morris", "--out", str(out)]) == 0
    msg = capsys.readouterr().out
    assert "1 unfinished" in msg and "9/10 complete trajectories" in msg
    idx = pd.read_csv(out / "indices.csv")
    y = idx[idx["output"] == "dm_market_share_final"].set_index("parameter")
    assert y.loc["x1", "rank"] == 1 and y.loc["x2", "rank"] == 3
    assert y.loc["x1", "mu_star"] == pytest.approx(3.0, rel=0.02)  # effect over the full range
    assert y.loc["x2", "mu_star"] == pytest.approx(0.0, abs=1e-9)
    assert y.loc["x1", "mu_star_conf"] >= 0 and set(idx.columns) >= {"mu_star", "mu_star_conf", "sigma"}
    assert (y["n_runs"] == 9 * 4).all()
    const = idx[idx["output"] == "workshops_active_final"]
    assert const["mu_star"].isna().all() and "constant" in const["note"].iloc[0]
    assert (out / "indices.png").read_bytes()[:4] == b"\x89PNG"
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == len(table) - 1 and {"x1", "x2", "x3", "tipped"} <= set(runs.columns)


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


def test_sensitivity_experiment_runs_as_a_sweep(tmp_path):
    """``python -m dmsim -m +experiment=sensitivity`` with the committed sample, shortened."""
    sweep = tmp_path / "sweep"
    r = subprocess.run([sys.executable, "-m", "dmsim", "-m", "+experiment=sensitivity", "steps=3",
                        "region.buyer_groups=200", "sample.index=range(0,3)", f"hydra.sweep.dir={sweep}"],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    sample = pd.read_parquet(REPO / "experiments" / "sensitivity" / "sample_sobol.parquet")
    for i in range(3):
        (run,) = sweep.glob(f"*sample.index={i}*")
        assert (run / "summary.json").is_file()
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        assert cfg["scenario"] == "shared_services" and cfg["network"]["type"] == "mesh"
        assert cfg["workshops"]["initial"] == sample.loc[i, "workshops.initial"]
        assert cfg["imports"]["tariff"] == pytest.approx(sample.loc[i, "imports.tariff"])
        assert not (run / "dashboard.png").exists()
