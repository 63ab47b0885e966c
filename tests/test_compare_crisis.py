"""``dmsim.compare`` on sweeps with shocks: the crisis window on the fan charts, the "Crisis months" section.

Sweeps without shocks — new ones (``shock_active`` all False) and ones written before shocks existed (no
``shock_active`` column, no crisis keys) — get no crisis section and no extra fan-chart panel.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from matplotlib.colors import to_rgb

from dmsim import compare as cmp

SCENARIOS = ("baseline", "centralised")
SEEDS = (0, 1)
SHOCK = ("shocks.freight.size=3", "shocks.freight.start_month=6", "shocks.freight.months=6")
SHOCK_MONTHS = list(range(6, 12))
SMALL = ("steps=18", "region.buyer_groups=300", "hydra/launcher=basic", "output.dashboard=false", "output.quiet=true")


def _sweep(root: Path, *overrides: str) -> Path:
    r = subprocess.run([sys.executable, "-m", "dmsim", "-m", f"+scenario={','.join(SCENARIOS)}",
                        f"seed={','.join(map(str, SEEDS))}", *overrides, *SMALL, f"hydra.sweep.dir={root}"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return root


@pytest.fixture(scope="module")
def shocked(tmp_path_factory):
    """2 scenarios x 2 seeds with a freight shock (freight cost x 4) in months 6-11."""
    return _sweep(tmp_path_factory.mktemp("shocked"), *SHOCK)


@pytest.fixture(scope="module")
def calm(tmp_path_factory):
    """The same sweep without a shock."""
    return _sweep(tmp_path_factory.mktemp("calm"))


def _summaries(sweep: Path) -> dict[tuple[str, int], dict]:
    out = {}
    for path in sweep.glob("*/summary.json"):
        s = json.loads(path.read_text())
        out[(s["scenario"], s["seed"])] = s
    return out


def test_crisis_section_holds_the_means_of_the_summary_files(shocked, tmp_path):
    result = cmp.compare(shocked, out_dir=tmp_path / "out")
    summaries = _summaries(shocked)
    assert len(summaries) == 4 and all(s["crisis_months"] == 6 for s in summaries.values())
    crisis = pd.read_csv(tmp_path / "out" / "crisis.csv")
    for scen in SCENARIOS:
        for metric in cmp.CRISIS:
            values = [summaries[(scen, k)][metric] for k in SEEDS]
            present = [float(v) for v in values if v is not None]  # recovery_months: the runs that recovered
            row = crisis[(crisis["scenario"] == scen) & (crisis["metric"] == metric)].iloc[0]
            assert row["n"] == len(present) and row["n_shock_runs"] == 2
            if present:
                assert row["mean"] == pytest.approx(np.mean(present), rel=1e-12, abs=1e-12)
                assert row["ci_low"] <= row["mean"] <= row["ci_high"]
            else:
                assert np.isnan(row["mean"])
    text = result.report.read_text()
    assert "## Crisis months" in text
    section = text.split("## Crisis months", 1)[1].split("\n## ", 1)[0]
    means = crisis.set_index(["scenario", "metric"])["mean"]
    for scen in SCENARIOS:  # the report shows those means, formatted as the other tables are
        share, cost = means[(scen, "dm_market_share_crisis")], means[(scen, "buyer_landed_cost_usd_mean_crisis")]
        assert f"{100 * share:.1f}% [" in section and f"{cost:,.2f} [" in section
    recovered = {scen: sum(summaries[(scen, k)]["recovery_months"] is not None for k in SEEDS) for scen in SCENARIOS}
    assert f"| runs recovered by the end | {recovered['baseline']} of 2 | {recovered['centralised']} of 2 |" in section
    assert "crisis months (runs with a shock on" in result.terminal


def test_fan_chart_shades_the_shock_months_and_shows_unmet_demand(shocked, tmp_path):
    result = cmp.compare(shocked, out_dir=tmp_path / "out")
    assert (tmp_path / "out" / "fan_charts.png").read_bytes()[:4] == b"\x89PNG"
    assert "](fan_charts.png)" in result.report.read_text()
    # compare's own time series keeps shock_active as bool and carries unmet demand, equal to the runs'.
    ts = pd.read_parquet(tmp_path / "out" / "timeseries.parquet")
    assert pq.read_schema(tmp_path / "out" / "timeseries.parquet").field("shock_active").type == "bool"
    assert ts["shock_active"].dtype == bool
    assert sorted(ts.loc[ts["shock_active"], "month"].unique()) == SHOCK_MONTHS
    one = result.sweep.runs.iloc[0]
    own = pd.read_parquet(shocked / one["run_dir"] / "timeseries.parquet")
    np.testing.assert_array_equal(ts.loc[ts["run"] == one["run"], "unmet_demand_units"], own["unmet_demand_units"])

    fig = cmp.plot_fan_charts(cmp.timeseries_with_parameters(result.sweep), result.by, tmp_path / "f.png")
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels][-1] == cmp.LABELS["unmet_demand_units"]
    assert len(panels) == len(cmp.FAN_SERIES) + 1
    for ax in panels:  # every panel: one span over months 6-11 (both groups share the schedule: one grey shading)
        spans = [(p.get_x(), p.get_x() + p.get_width()) for p in ax.patches]
        assert spans == [(SHOCK_MONTHS[0] - 0.5, SHOCK_MONTHS[-1] + 0.5)]
        assert ax.patches[0].get_alpha() == pytest.approx(cmp.SHOCK_ALPHA)
    labels = [t.get_text() for t in panels[0].get_legend().get_texts()]
    assert labels.count("shock") == 1 and set(SCENARIOS) <= set(labels)


def test_shading_follows_the_share_of_a_groups_runs_with_a_shock():
    # Group a: 2 of 4 runs with a shock in months 2-3, all 4 in month 4; group b: none.
    rows = []
    for g, run_ids in (("a", range(4)), ("b", range(4, 8))):
        for run in run_ids:
            for month in range(8):
                on = g == "a" and (month == 4 or (month in (2, 3) and run < 2))
                rows.append({"run": run, "scenario": g, "seed": run % 4, "month": month, "shock_active": on,
                             "dm_market_share": 0.1, "workshops_active": 5.0, "mean_unit_cost_usd": 20.0,
                             "shared_service_share": 0.0, "unmet_demand_units": 10.0 * on})
    ts = pd.DataFrame(rows)
    shares = cmp.shock_shares(ts, ["scenario"])
    assert list(shares[0]) == [0, 0, 0.5, 0.5, 1, 0, 0, 0] and not shares[1].any()
    assert cmp.shock_blocks(shares[0]) == [(2, 3, 0.5), (4, 4, 1.0)]
    fig = cmp.plot_fan_charts(ts, ["scenario"], Path("/dev/null"))
    for ax in [a for a in fig.axes if a.get_visible()]:
        spans = sorted((p.get_x(), p.get_width(), p.get_y(), p.get_height(), p.get_alpha(), p.get_facecolor()[:3])
                       for p in ax.patches)
        full = [sp for sp in spans if sp[3] == 1]  # grey, full height: the share of all 8 runs
        assert [sp[:2] + sp[4:5] for sp in full] == [(1.5, 2.0, cmp.SHOCK_ALPHA / 4), (3.5, 1.0, cmp.SHOCK_ALPHA / 2)]
        assert all(sp[5] == pytest.approx((0.4, 0.4, 0.4)) for sp in full)
        strips = [sp for sp in spans if sp[3] < 1]  # group a's strip at the bottom, alpha by its share
        assert [sp[:3] + sp[4:5] for sp in strips] == [(1.5, 2.0, 0.0, cmp.SHOCK_STRIP_ALPHA / 2),
                                                       (3.5, 1.0, 0.0, cmp.SHOCK_STRIP_ALPHA)]
        assert all(sp[5] == pytest.approx(to_rgb("C0")) for sp in strips)  # group a's colour; b has no shock


def test_sweep_without_shocks_has_no_crisis_section(calm, tmp_path):
    result = cmp.compare(calm, out_dir=tmp_path / "out")
    text = result.report.read_text().replace(cmp.display_path(calm), "SWEEP")
    assert "Crisis months" not in text and "shock" not in text.split("## Files")[0]
    assert not (tmp_path / "out" / "crisis.csv").exists()
    assert "crisis months" not in result.terminal
    ts = pd.read_parquet(tmp_path / "out" / "timeseries.parquet")
    assert ts["shock_active"].dtype == bool and not ts["shock_active"].any()
    fig = cmp.plot_fan_charts(cmp.timeseries_with_parameters(result.sweep), result.by, tmp_path / "f.png")
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == len(cmp.FAN_SERIES) and not any(ax.patches for ax in panels)  # no unmet-demand panel


def _old_run(root: Path, scenario: str, seed: int) -> None:
    """A run folder as dmsim wrote it before shocks: no shock_active / unmet_demand_units, no crisis keys."""
    run = root / f"+scenario={scenario},seed={seed}"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text(f"- +scenario={scenario}\n- seed={seed}\n")
    months = np.arange(12)
    pd.DataFrame({"month": months, "dm_market_share": np.linspace(0, 0.2 + 0.01 * seed, 12),
                  "workshops_active": np.full(12, 10), "mean_unit_cost_usd": np.full(12, 25.0),
                  "shared_service_share": np.zeros(12)}).to_parquet(run / "timeseries.parquet", index=False)
    (run / "summary.json").write_text(json.dumps({"scenario": scenario, "seed": seed, "tipped": False,
                                                  "dm_market_share_final": 0.2 + 0.01 * seed,
                                                  "social_surplus_usd_total": 1e5 + seed,
                                                  "public_spend_usd_total": 0.0}))


def test_a_sweep_from_before_shocks_compares_as_before(tmp_path, shocked):
    old = tmp_path / "old"
    for scenario in SCENARIOS:
        for seed in SEEDS:
            _old_run(old, scenario, seed)
    result = cmp.compare(old)
    text = result.report.read_text().replace(cmp.display_path(old), "SWEEP")  # its path names this test
    assert "Crisis months" not in text and "shock" not in text and "unmet" not in text
    assert not (old / "compare" / "crisis.csv").exists()
    fig = cmp.plot_fan_charts(cmp.timeseries_with_parameters(result.sweep), result.by, tmp_path / "f.png")
    assert sum(ax.get_visible() for ax in fig.axes) == len(cmp.FAN_SERIES)
    # The new columns are there, null, with the types a sweep with shocks has: the files read as one dataset.
    path = old / "compare" / "timeseries.parquet"
    ts = pd.read_parquet(path)
    assert ts["shock_active"].isna().all() and ts["unmet_demand_units"].isna().all()
    new = pq.read_schema(cmp.compare(shocked, out_dir=tmp_path / "new").out_dir / "timeseries.parquet")
    for name in ("month", *cmp.KEY_SERIES):
        assert pq.read_schema(path).field(name).type == new.field(name).type, name
