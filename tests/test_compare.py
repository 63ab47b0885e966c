"""The sweep comparison tool (``python -m dmsim.compare``): tables, statistics, report, errors."""

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from dmsim import compare as cmp

SCENARIOS = ("baseline", "shared_services")
SEEDS = (0, 1, 2)
UNFINISHED = "+scenario=baseline,seed=9"
COST_KEY = "services.certification.provider_fixed_cost_usd_per_month"
NOT_IN_SUMMARY = ("strategy", "workshops.initial", COST_KEY)  # parameters a summary.json does not carry


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A real 2 scenarios x 3 seeds sweep, plus one unfinished run directory."""
    root = tmp_path_factory.mktemp("sweep")
    r = subprocess.run([sys.executable, "-m", "dmsim", "-m", "+scenario=baseline,shared_services", "seed=0,1,2",
                        "steps=12", "output.dashboard=false", "region.buyer_groups=300", f"hydra.sweep.dir={root}"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    crashed = root / UNFINISHED
    (crashed / ".hydra").mkdir(parents=True)
    (crashed / ".hydra" / "overrides.yaml").write_text("- +scenario=baseline\n- seed=9\n")
    (crashed / "config.yaml").write_text("seed: 9\n")
    return root


@pytest.fixture(scope="module")
def summaries(sweep):
    """(scenario, seed) -> summary, read straight from the files."""
    out = {}
    for path in sweep.glob("*/summary.json"):
        s = json.loads(path.read_text())
        out[(s["scenario"], s["seed"])] = s
    return out


@pytest.fixture(scope="module")
def cli(sweep):
    return subprocess.run([sys.executable, "-m", "dmsim.compare", str(sweep)], capture_output=True, text=True,
                          timeout=300)


def test_runs_table_has_one_row_per_finished_run(sweep, summaries):
    df = cmp.load_runs(sweep)
    assert len(df) == 6 == len(summaries)
    assert {"run", "scenario", "seed", "steps", "region.buyer_groups", "output.dashboard", "run_dir"} <= set(df.columns)
    assert set(cmp.HEADLINE) <= set(df.columns)
    assert sorted(zip(df["scenario"], df["seed"], strict=True)) == [(s, k) for s in SCENARIOS for k in SEEDS]
    assert (df["steps"] == 12).all() and (df["region.buyer_groups"] == 300).all()
    assert df["seed"].dtype.kind == "i" and df["tipped"].dtype == bool
    assert list(df["run"]) == list(range(6))
    for _, row in df.iterrows():  # each row carries its own run's summary
        s = json.loads((sweep / row["run_dir"] / "summary.json").read_text())
        assert (s["scenario"], s["seed"]) == (row["scenario"], row["seed"])
        assert row["dm_market_share_final"] == s["dm_market_share_final"]
    assert cmp.parameter_columns(df)[-1] == "seed"
    assert cmp.swept_parameters(df) == ["scenario"]
    assert df.attrs["skipped"] == [UNFINISHED]


def test_scenario_means_equal_the_summary_files(sweep, summaries):
    df = cmp.load_runs(sweep)
    table = cmp.summarise_by(df, ["scenario"])
    assert len(table) == len(SCENARIOS) * len(cmp.HEADLINE)
    for scen in SCENARIOS:
        for metric in cmp.HEADLINE:
            values = [float(summaries[(scen, k)][metric]) for k in SEEDS]
            row = table[(table["scenario"] == scen) & (table["metric"] == metric)].iloc[0]
            assert row["n_runs"] == 3 and row["n"] == 3
            assert row["mean"] == pytest.approx(np.mean(values), rel=1e-12, abs=1e-12)
            if np.std(values) > 0:  # the t interval, cut to what the figure can be (a share in [0, 1], counts >= 0)
                lo, hi = stats.t.interval(0.95, 2, loc=np.mean(values), scale=stats.sem(values))
                low, high = cmp.feasible_range(metric)
                assert (row["ci_low"], row["ci_high"]) == pytest.approx((max(lo, low), min(hi, high)), rel=1e-9)
    tipped = table[(table["metric"] == "tipped")].set_index("scenario")["mean"]
    for scen in SCENARIOS:
        assert tipped[scen] == pytest.approx(np.mean([summaries[(scen, k)]["tipped"] for k in SEEDS]))


def test_paired_difference_is_the_mean_of_same_seed_differences(sweep, summaries):
    df = cmp.load_runs(sweep)
    paired = cmp.paired_differences(df, "baseline", "scenario")
    assert set(paired["scenario"]) == {"shared_services"}
    for metric in ("dm_market_share_final", "consumer_surplus_usd_total", "workshops_active_final"):
        diffs = [summaries[("shared_services", k)][metric] - summaries[("baseline", k)][metric] for k in SEEDS]
        row = paired[paired["metric"] == metric].iloc[0]
        assert row["n_pairs"] == 3
        assert row["mean"] == pytest.approx(np.mean(diffs), rel=1e-12)
        lo, hi = stats.t.interval(0.95, 2, loc=np.mean(diffs), scale=stats.sem(diffs))
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((lo, hi), rel=1e-9)


def _correlated(n_seeds=10, effect=5.0):
    """Two scenarios sharing a large per-seed component (common random numbers), small own noise."""
    rng = np.random.default_rng(0)
    luck = 10.0 * rng.standard_normal(n_seeds)
    base = 100.0 + luck + 0.5 * rng.standard_normal(n_seeds)
    treat = 100.0 + effect + luck + 0.5 * rng.standard_normal(n_seeds)
    seeds = np.arange(n_seeds)
    return pd.DataFrame({
        "scenario": ["baseline"] * n_seeds + ["shared_services"] * n_seeds,
        "seed": np.concatenate([seeds, seeds]),
        "jobs_final": np.concatenate([base, treat]),
    }), base, treat


def test_paired_interval_is_narrower_than_unpaired_on_correlated_data():
    df, base, treat = _correlated()
    row = cmp.paired_differences(df, "baseline", "scenario", metrics=["jobs_final"]).iloc[0]
    paired = stats.ttest_rel(treat, base).confidence_interval(0.95)
    welch = stats.ttest_ind(treat, base, equal_var=False).confidence_interval(0.95)
    assert row["mean"] == pytest.approx(np.mean(treat - base))
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((paired.low, paired.high))
    assert (row["unpaired_ci_low"], row["unpaired_ci_high"]) == pytest.approx((welch.low, welch.high))
    width, unpaired_width = row["ci_high"] - row["ci_low"], row["unpaired_ci_high"] - row["unpaired_ci_low"]
    assert width < 0.2 * unpaired_width
    assert row["width_ratio"] == pytest.approx(width / unpaired_width)
    assert row["correlation"] > 0.9
    # Shuffling the seeds of one arm breaks the pairing: the paired interval is no longer tighter.
    shuffled = df.copy()
    mask = shuffled["scenario"] == "shared_services"
    shuffled.loc[mask, "seed"] = np.roll(shuffled.loc[mask, "seed"].to_numpy(), 3)
    row2 = cmp.paired_differences(shuffled, "baseline", "scenario", metrics=["jobs_final"]).iloc[0]
    assert row2["width_ratio"] > 0.8


def test_pairs_match_seed_and_the_other_swept_parameters():
    df = pd.DataFrame({
        "scenario": ["baseline", "shared", "baseline", "shared"] * 2,
        "workshops.initial": [5, 5, 10, 10] * 2,
        "seed": [0, 0, 0, 0, 1, 1, 1, 1],
        "jobs_final": [1.0, 4.0, 10.0, 30.0, 2.0, 6.0, 20.0, 50.0],
    })
    paired = cmp.paired_differences(df, "baseline", "scenario", metrics=["jobs_final"]).set_index("workshops.initial")
    assert paired.loc[5, "mean"] == pytest.approx(((4 - 1) + (6 - 2)) / 2)
    assert paired.loc[10, "mean"] == pytest.approx(((30 - 10) + (50 - 20)) / 2)
    assert (paired["n_pairs"] == 2).all()
    assert cmp.find_reference(df, "workshops.initial=10") == ("workshops.initial", 10)
    assert cmp.find_reference(df, "shared") == ("scenario", "shared")
    assert cmp.find_reference(df, "centralised") is None


def test_cli_writes_tables_report_and_figures(sweep, summaries, cli):
    assert cli.returncode == 0, cli.stderr
    out = sweep / "compare"
    # Terminal: the scenario table and the report's path.
    assert "DM market share (final)" in cli.stdout and "shared_services" in cli.stdout
    assert f"report: {out / 'report.md'}" in cli.stdout
    assert "skipped 1 unfinished" in cli.stdout and UNFINISHED in cli.stdout
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(runs) == 6 and UNFINISHED not in set(runs["run_dir"])
    assert len(pd.read_csv(out / "runs.csv")) == 6
    ts = pd.read_parquet(out / "timeseries.parquet")
    assert len(ts) == 6 * 12 and {"scenario", "seed", "month", *cmp.KEY_SERIES} <= set(ts.columns)
    one = runs[(runs["scenario"] == "shared_services") & (runs["seed"] == 1)].iloc[0]
    full = pd.read_parquet(sweep / one["run_dir"] / "timeseries.parquet")
    mine = ts[ts["run"] == one["run"]].sort_values("month")
    assert list(mine["month"]) == list(full["month"])
    np.testing.assert_allclose(mine["dm_market_share"], full["dm_market_share"])
    scen = pd.read_csv(out / "scenarios.csv")
    row = scen[(scen["scenario"] == "baseline") & (scen["metric"] == "jobs_final")].iloc[0]
    assert row["mean"] == pytest.approx(np.mean([summaries[("baseline", k)]["jobs_final"] for k in SEEDS]))
    report = (out / "report.md").read_text()
    assert "1 skipped" in report and UNFINISHED in report
    assert "scenario=shared_services − reference" in report and "paired width / unpaired" in report
    for png in ("scenario_bars.png", "paired_intervals.png", "fan_charts.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
        assert f"]({png})" in report
    assert not (out / "tipping_heatmap.png").exists()  # one swept parameter only
    html = (out / "report.html").read_text()
    assert '<img src="fan_charts.png"' in html and "<table>" in html


def test_missing_sweep_dir_exits_nonzero_with_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "dmsim.compare", str(tmp_path / "nope")], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode != 0
    assert r.stderr.strip().count("\n") == 0
    assert r.stderr.startswith("dmsim.compare: error:") and "does not exist" in r.stderr


def test_sweep_without_finished_runs_exits_nonzero_with_one_line(tmp_path, capsys):
    (tmp_path / "seed=0" / ".hydra").mkdir(parents=True)
    assert cmp.main([str(tmp_path)]) != 0
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "no finished run" in err and "1 run directories" in err
    assert not (tmp_path / "compare").exists()


def test_parse_overrides():
    got = cmp.parse_overrides(["+scenario=baseline", "seed=0", "output.dashboard=False", "imports.tariff=0.3",
                               "network.type=grid", "++policy.budget_usd=1e6", "~services.design", "name='a b'"])
    assert got == {"scenario": "baseline", "seed": 0, "output.dashboard": False, "imports.tariff": 0.3,
                   "network.type": "grid", "policy.budget_usd": 1e6, "name": "a b"}
    assert type(got["seed"]) is int


# --- Synthetic tables with hand-checkable numbers --------------------------------------------


def _grid_table():
    """workshops.initial x cost grid, 4 seeds; tipped pattern 0, 1/2, 3/4, 1."""
    rows = []
    tipped = {(5, 1500): [0, 0, 0, 0], (10, 1500): [1, 1, 1, 1], (5, 4000): [0, 0, 1, 1], (10, 4000): [1, 1, 1, 0]}
    for (w, c), tips in tipped.items():
        for seed, t in enumerate(tips):
            rows.append({"scenario": "shared_services", "workshops.initial": w,
                         COST_KEY: c, "seed": seed,
                         "tipped": bool(t), "dm_market_share_final": 0.1 + 0.4 * t + 0.01 * seed})
    return pd.DataFrame(rows)


def test_tipping_grid_on_a_synthetic_table(tmp_path):
    df = _grid_table()
    x, y = "workshops.initial", COST_KEY
    assert cmp.swept_parameters(df) == [x, y]
    grid = cmp.tipping_grid(df, x, y).set_index([y, x])
    assert grid.loc[(1500, 5), "tipped_share"] == 0.0
    assert grid.loc[(1500, 10), "tipped_share"] == 1.0
    assert grid.loc[(4000, 5), "tipped_share"] == 0.5
    assert grid.loc[(4000, 10), "tipped_share"] == 0.75
    # DM share: 0.1 + 0.4 * share tipped + 0.01 * mean seed (1.5).
    assert grid.loc[(4000, 5), "dm_market_share_final_mean"] == pytest.approx(0.1 + 0.2 + 0.015)
    assert (grid["n"] == 4).all()
    cmp.plot_tipping_heatmap(grid.reset_index(), x, y, tmp_path / "map.png")
    assert (tmp_path / "map.png").read_bytes()[:4] == b"\x89PNG"


def _strategy_table():
    """none spends 0; A spends 100 for +0.10 DM share; B spends 50 for +0.02; C spends nothing extra."""
    spec = {"none": (0.0, 0.0, 0.0, 0.0), "A": (100.0, 0.10, 1000.0, 500.0), "B": (50.0, 0.02, 100.0, 400.0),
            "C": (0.0, 0.01, 0.0, 0.0)}
    rows = []
    for name, (spend, dm, lva, cs) in spec.items():
        for seed in range(3):
            luck = [0.0, 0.05, -0.05][seed]  # shared by all strategies of a seed
            rows.append({"scenario": "baseline", "strategy": name, "seed": seed, "public_spend_usd_total": spend,
                         "dm_market_share_final": 0.2 + luck + dm + 0.001 * seed * (name == "A"),
                         "social_surplus_usd_total": 1e4 + 1e3 * luck + lva,
                         "consumer_surplus_usd_total": 2e4 + cs, "tipped": False})
    return pd.DataFrame(rows)


def test_strategy_ranking_on_a_synthetic_table():
    df = _strategy_table()
    assert cmp.default_strategy_reference(df) == "none"
    ranking = cmp.strategy_ranking(df).set_index("strategy")
    assert set(ranking.index) == {"A", "B", "C"}
    a, b, c = ranking.loc["A"], ranking.loc["B"], ranking.loc["C"]
    assert a["extra_spend_usd"] == 100.0 and b["extra_spend_usd"] == 50.0 and c["extra_spend_usd"] == 0.0
    assert a["dm_market_share_final_diff"] == pytest.approx(0.10 + 0.001)  # mean of 0.100, 0.101, 0.102
    assert a["dm_market_share_final_per_usd"] == pytest.approx(0.101 / 100)
    assert b["dm_market_share_final_per_usd"] == pytest.approx(0.02 / 50)
    assert b["consumer_surplus_usd_total_per_usd"] == pytest.approx(400 / 50)
    assert a["social_surplus_usd_total_per_usd"] == pytest.approx(1000 / 100)
    assert math.isnan(c["dm_market_share_final_per_usd"])  # no extra spend: per-USD undefined
    assert (a["rank"], b["rank"]) == (1, 2) and pd.isna(c["rank"])
    # Same-seed luck cancels: B's DM-share gain is exactly 0.02 in every pair.
    assert b["dm_market_share_final_ci_low"] == pytest.approx(0.02) == b["dm_market_share_final_ci_high"]
    # An explicit reference: A against B.
    vs_b = cmp.strategy_ranking(df, reference="B").set_index("strategy")
    assert vs_b.loc["A", "extra_spend_usd"] == 50.0
    assert vs_b.loc["A", "dm_market_share_final_per_usd"] == pytest.approx((0.101 - 0.02) / 50)
    assert cmp.strategy_ranking(df.drop(columns="strategy")).empty
    # The constant scenario column is no comparison axis; the strategy column is.
    assert cmp.find_reference(df, "baseline") is None
    assert cmp.find_reference(df, "none") == ("strategy", "none")


def _centralised_table():
    """centralised, dm_local (spends 200k for +800k social surplus) and dm_free (no spend, +100k)."""
    spec = {"centralised": (0.0, 0.0, 0.0), "dm_local": (2e5, 5e5, 3e5), "dm_free": (0.0, 1e5, 0.0)}
    rows = []
    for name, (spend, cs, lva) in spec.items():
        for seed in range(4):
            rows.append({"scenario": name, "seed": seed, "public_spend_usd_total": spend,
                         "social_surplus_usd_total": 1.5e6 + 1e6 * seed + cs + lva + 1e4 * seed * (name == "dm_local"),
                         "tipped": seed % 2 == 0})
    return pd.DataFrame(rows)


def test_benefit_cost_on_a_synthetic_table():
    bc = cmp.benefit_cost(_centralised_table()).set_index("scenario")
    assert set(bc.index) == {"dm_local", "dm_free"}
    local = bc.loc["dm_local"]
    assert local["n_pairs"] == 4
    assert local["benefit_usd"] == pytest.approx(5e5 + 3e5 + 1e4 * 1.5)  # mean of seed terms 0..3 = 1.5
    assert local["cost_usd"] == pytest.approx(2e5)
    assert local["benefit_cost_ratio"] == pytest.approx((8e5 + 1.5e4) / 2e5)
    assert local["net_benefit_usd"] == pytest.approx(8e5 + 1.5e4 - 2e5)
    assert local["benefit_ci_low"] < local["benefit_usd"] < local["benefit_ci_high"]
    free = bc.loc["dm_free"]
    assert free["benefit_usd"] == pytest.approx(1e5) and free["benefit_ci_low"] == pytest.approx(1e5)
    assert math.isnan(free["benefit_cost_ratio"])  # nothing spent
    assert cmp.benefit_cost(_centralised_table().query("scenario != 'centralised'")).empty


def _write_fake_sweep(root, df):
    """A sweep layout from a runs table: summary.json and .hydra/overrides.yaml per row (no time series)."""
    params = [c for c in df.columns if c in ("scenario", "seed", *NOT_IN_SUMMARY)]
    for i, row in df.reset_index(drop=True).iterrows():
        run = root / f"job{i}"
        (run / ".hydra").mkdir(parents=True)
        overrides = [f"{'+' if p in ('scenario', 'strategy') else ''}{p}={row[p]}" for p in params]
        (run / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
        summary = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items() if k not in NOT_IN_SUMMARY}
        (run / "summary.json").write_text(json.dumps(summary))


def test_report_sections_for_grid_strategies_and_centralised(tmp_path):
    grid_dir, strat_dir, cent_dir = tmp_path / "grid", tmp_path / "strat", tmp_path / "cent"
    _write_fake_sweep(grid_dir, _grid_table())
    _write_fake_sweep(strat_dir, _strategy_table())
    _write_fake_sweep(cent_dir, _centralised_table())

    grid = cmp.compare(grid_dir)
    assert (grid.out_dir / "tipping_heatmap.png").read_bytes()[:4] == b"\x89PNG"
    saved = pd.read_csv(grid.out_dir / "tipping_grid.csv")
    assert sorted(saved["tipped_share"]) == [0.0, 0.5, 0.75, 1.0]
    assert "## Tipping-point map" in grid.report.read_text()
    assert "The reference `baseline` is not among" in grid.report.read_text()

    strat = cmp.compare(strat_dir, reference="none", out_dir=tmp_path / "strat_out")
    text = strat.report.read_text()
    assert "## Strategies: effect per USD of public spend" in text
    ranking = pd.read_csv(tmp_path / "strat_out" / "strategy_ranking.csv")
    assert list(ranking.dropna(subset=["rank"]).sort_values("rank")["strategy"]) == ["A", "B"]
    assert strat.reference == ("strategy", "none")

    cent = cmp.compare(cent_dir, reference="centralised")
    assert "## Benefit-cost against the centralised counterfactual" in cent.report.read_text()
    bc = pd.read_csv(cent.out_dir / "benefit_cost.csv").set_index("scenario")
    assert bc.loc["dm_local", "benefit_cost_ratio"] == pytest.approx(8.15e5 / 2e5)


def test_summary_lists_are_not_taken_for_parameters():
    import pandas as pd

    from dmsim.compare import parameter_columns

    df = pd.DataFrame({"strategy": ["none", "a"], "seed": [0, 0], "strategies": ["['none']", "['a']"],
                       "benefit_cost_ratio": [None, 2.0], "dm_market_share_final": [0.2, 0.3]})
    assert parameter_columns(df) == ["strategy", "seed"]
