"""``dmsim.compare`` refuses what it cannot compare, never damages an earlier report, and writes stable types.

The sweeps here are written by hand, run folder by run folder, as a real sweep writes them: the
resolved ``config.yaml`` (composed by dmsim itself), ``.hydra/overrides.yaml``, ``.hydra/hydra.yaml``
(its ``mode``), ``timeseries.parquet`` and ``summary.json``.
"""

import functools
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from dmsim import compare as cmp
from dmsim.run import compose_config, config_yaml

ROOT = Path(__file__).resolve().parents[1]
DESIGN = "services.design.internal_cost_usd_per_month"
MONTHS = 12


@functools.cache
def _config_text(overrides: tuple[str, ...]) -> str:
    """The resolved config.yaml of ``overrides`` (seed 0; the seed line is replaced per run)."""
    return config_yaml(compose_config([*overrides, "seed=0"]))


def write_run(root: Path, overrides: list[str], summary: dict, mode: str = "MULTIRUN", seed: int = 0,
              edited: tuple[str, ...] = ()) -> Path:
    """One finished run folder under ``root``, named like Hydra's override_dirname.

    ``edited``: config changes that are not overrides (as if a scenario file had been edited).
    """
    run = root / ",".join([*overrides, f"seed={seed}"])
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in [*overrides, f"seed={seed}"]))
    (run / ".hydra" / "hydra.yaml").write_text(f"hydra:\n  job:\n    name: __main__\n  mode: {mode}\n")
    text = _config_text((*overrides, *edited)).replace("seed: 0\n", f"seed: {seed}\n", 1)
    (run / "config.yaml").write_text(text)
    months = np.arange(1, MONTHS + 1)
    share = summary["dm_market_share_final"]
    pd.DataFrame({"month": months, "dm_market_share": np.linspace(0.01, share, MONTHS),
                  "workshops_active": np.full(MONTHS, 10.0), "mean_unit_cost_usd": np.full(MONTHS, 25.0),
                  "shared_service_share": np.zeros(MONTHS)}).to_parquet(run / "timeseries.parquet", index=False)
    scenario = next((o.split("=", 1)[1] for o in overrides if o.startswith("+scenario=")), "baseline")
    (run / "summary.json").write_text(json.dumps({"seed": seed, "scenario": scenario, **summary}))
    return run


def summary(seed: int, share: float = 0.2, public_cost: bool = False) -> dict:
    """A summary with the headline keys; with ``public_cost`` the counterfactual figures have values."""
    tipped = share > 0.3
    return {"dm_market_share_final": share, "workshops_active_final": 10.0 + seed, "jobs_final": 50.0 + seed,
            "mean_unit_cost_usd_final": 25.0 - share, "overhead_share_final": 0.3, "shared_service_share_final": share,
            "public_spend_usd_total": 1e5 if public_cost else 0.0, "consumer_surplus_usd_total": 7e5 + 1e3 * seed,
            "social_surplus_usd_total": 4e5 + 1e3 * seed, "dm_fill_rate_final": 0.97, "tipped": tipped,
            "tipping_month": 40 + seed if tipped else None, "providers_entered_total": seed, "months": MONTHS,
            "strategies": ["working_capital_loans"] if public_cost else [],
            "benefit_vs_centralised_usd": 2e5 + seed, "public_cost_vs_centralised_usd": 1e5 if public_cost else 0.0,
            "benefit_cost_ratio": (2e5 + seed) / 1e5 if public_cost else None}


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too) and its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def one_line_error(capsys, argv: list[str]) -> str:
    assert cmp.main(argv) != 0
    err = capsys.readouterr().err
    assert err.startswith("dmsim.compare: error: ") and err.strip().count("\n") == 0, err
    return err


# --- A group that mixes configurations (a scenario edited between two runs of a sweep) ---------------


def mixed_sweep(root: Path, old_runs: int = 2) -> Path:
    """shared_services x 6 seeds, the first ``old_runs`` with the design service at 350 USD, the rest at 300."""
    for seed in range(6):
        cost = 350.0 if seed < old_runs else 300.0
        write_run(root, ["+scenario=shared_services"], summary(seed), seed=seed, edited=(f"{DESIGN}={cost}",))
    return root


def test_a_group_mixing_configurations_is_refused_with_one_line_and_nothing_written(tmp_path, capsys):
    sweep = mixed_sweep(tmp_path / "sweep")
    err = one_line_error(capsys, [str(sweep)])
    assert (f"group scenario=shared_services mixes configurations: {DESIGN} is 350.0 in 2 runs and 300.0 in 4 runs"
            in err)
    assert "seed=0" in err and "seed=1" in err and "seed=5" not in err  # names the 2 runs of the minority value
    assert not (sweep / "compare").exists()
    # An earlier report in --out is left byte-identical.
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.md").write_text("old report\n")
    (out / "README.md").write_text("notes\n")
    before = snapshot(out)
    one_line_error(capsys, [str(sweep), "--out", str(out)])
    assert snapshot(out) == before


def test_runs_differing_only_in_seed_and_presentation_keys_are_one_group(tmp_path):
    sweep = mixed_sweep(tmp_path / "sweep", old_runs=0)
    run = sweep / "+scenario=shared_services,seed=3"
    text = (run / "config.yaml").read_text()
    assert "dashboard: true" in text
    (run / "config.yaml").write_text(text.replace("dashboard: true", "dashboard: false"))
    result = cmp.compare(sweep)
    assert result.report.is_file() and len(pd.read_csv(result.out_dir / "runs.csv")) == 6


# --- The output folder is replaced as a whole ---------------------------------------------------------


def small_sweep(root: Path, seeds: range = range(5), two_params: bool = False) -> Path:
    for scenario in ("baseline", "shared_services"):
        for w in ((10, 20) if two_params else (None,)):
            extra = [f"workshops.initial={w}"] if w is not None else []
            for seed in seeds:
                share = 0.1 + 0.05 * seed + (0.2 if scenario == "shared_services" else 0.0)
                write_run(root, [f"+scenario={scenario}", *extra], summary(seed, share), seed=seed)
    return root


def test_a_compare_killed_midway_leaves_the_old_report_byte_identical(tmp_path, monkeypatch):
    sweep = small_sweep(tmp_path / "sweep")
    out = tmp_path / "experiments" / "demo"
    out.mkdir(parents=True)
    (out / "README.md").write_text("# demo\nhand-written notes\n")
    cmp.compare(sweep, out_dir=out)
    before = snapshot(out)
    assert {"README.md", "report.md", "runs.csv", "scenario_bars.png", "fan_charts.png"} <= set(before)
    write_run(sweep, ["+scenario=baseline"], summary(7, 0.5), seed=7)  # the new report would differ

    def killed(ts, by, path, *args, **kwargs):
        Path(path).write_bytes(b"")  # what a kill inside savefig leaves
        raise KeyboardInterrupt

    monkeypatch.setattr(cmp, "plot_fan_charts", killed)
    with pytest.raises(KeyboardInterrupt):
        cmp.compare(sweep, out_dir=out)
    assert snapshot(out) == before
    monkeypatch.undo()
    cmp.compare(sweep, out_dir=out)
    assert len(pd.read_csv(out / "runs.csv")) == 11
    assert (out / "README.md").read_text() == "# demo\nhand-written notes\n"
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def test_a_kill_while_moving_files_in_is_finished_by_the_next_run(tmp_path, monkeypatch):
    sweep = small_sweep(tmp_path / "sweep")
    out = tmp_path / "out"
    cmp.compare(sweep, out_dir=out)
    write_run(sweep, ["+scenario=baseline"], summary(7, 0.5), seed=7)
    moves = []
    real_replace = os.replace

    def replace(src, dst):
        if cmp.COMMITTED in str(src):
            moves.append(Path(dst).name)
            if len(moves) == 3:
                raise KeyboardInterrupt  # killed after two files went in
        real_replace(src, dst)

    monkeypatch.setattr(cmp.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        cmp.compare(sweep, out_dir=out)
    monkeypatch.undo()
    # Mid-move there is no report.md: a report that exists never names files of another comparison.
    assert not (out / "report.md").exists()
    assert [p.name for p in out.iterdir() if p.name.startswith(cmp.COMMITTED)]
    cmp.recover_output_dir(out)  # what the next dmsim.compare writing to `out` does first
    assert len(pd.read_csv(out / "runs.csv")) == 11 and "11 finished runs" in (out / "report.md").read_text()
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def test_leftovers_of_a_killed_compare_are_removed_by_the_next_run(tmp_path):
    sweep = small_sweep(tmp_path / "sweep")
    out = sweep / "compare"
    dead = out / f"{cmp.STAGING}999999999"  # no such process
    dead.mkdir(parents=True)
    (dead / "runs.csv").write_text("half")
    cmp.compare(sweep)
    assert not dead.exists() and (out / "report.md").is_file()


def test_outputs_of_an_earlier_comparison_go_but_other_files_stay(tmp_path):
    out = tmp_path / "experiments" / "demo"
    out.mkdir(parents=True)
    (out / "README.md").write_text("notes\n")
    (out / "sample.csv").write_text("a,b\n1,2\n")
    cmp.compare(small_sweep(tmp_path / "grid", range(2), two_params=True), out_dir=out)
    assert (out / "tipping_heatmap.png").is_file() and (out / "tipping_grid.csv").is_file()
    cmp.compare(small_sweep(tmp_path / "plain", range(2)), out_dir=out)
    assert not (out / "tipping_heatmap.png").exists() and not (out / "tipping_grid.csv").exists()
    assert (out / "README.md").read_text() == "notes\n" and (out / "sample.csv").read_text() == "a,b\n1,2\n"


# --- Folders that are not a sweep -------------------------------------------------------------------


def test_a_folder_of_single_runs_is_refused_with_one_line(tmp_path, capsys):
    outputs = tmp_path / "outputs"
    write_run(outputs / "2026-12-02" / "10-00-00", [], summary(0), mode="RUN")
    write_run(outputs / "2026-12-02" / "11-00-00", ["+scenario=shared_services", "imports.tariff=0.3"], summary(3),
              mode="RUN", seed=3)
    for folder in (outputs, outputs / "2026-12-02"):
        err = one_line_error(capsys, [str(folder)])
        assert "is not a sweep folder" in err and "started one at a time" in err
        assert not (folder / "compare").exists()
    one_run = next((outputs / "2026-12-02" / "10-00-00").iterdir())
    err = one_line_error(capsys, [str(one_run)])
    assert "is not a sweep folder: it is one run's directory" in err
    assert not (one_run / "compare").exists()


def test_runs_started_with_different_override_keys_are_refused(tmp_path, capsys):
    root = tmp_path / "multirun"
    write_run(root / "a", ["+scenario=baseline"], summary(0))
    write_run(root / "b", ["+scenario=baseline", "imports.tariff=0.3"], summary(0))
    err = one_line_error(capsys, [str(root)])
    assert "is not a sweep folder: its runs were started with different overrides (imports.tariff" in err
    assert not (root / "compare").exists()


# --- Intervals within what a figure can be; few seeds are flagged -------------------------------------


def test_share_intervals_stay_in_range_and_few_seeds_are_flagged(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    for scenario, shares in (("baseline", (0.05, 0.9)), ("shared_services", (0.02, 0.95))):
        for seed, share in enumerate(shares):
            write_run(sweep, [f"+scenario={scenario}"], summary(seed, share), seed=seed)
    assert cmp.main([str(sweep)]) == 0
    err = capsys.readouterr().err
    assert "dmsim.compare: warning: 2 of 2 groups have fewer than 5 seeds" in err
    scen = pd.read_csv(sweep / "compare" / "scenarios.csv")
    share = scen[scen["metric"].isin(["dm_market_share_final", "tipped", "dm_fill_rate_final"])]
    unclipped = scen[scen["metric"] == "dm_market_share_final"]["mean"] + 2 * scen["sd"]
    assert (unclipped > 1).any()  # a t interval with one degree of freedom would pass 100%
    assert (share["ci_low"] >= 0).all() and (share["ci_high"] <= 1).all()
    counts = scen[scen["metric"].isin(["workshops_active_final", "jobs_final", "mean_unit_cost_usd_final"])]
    assert (counts["ci_low"] >= 0).all()
    paired = pd.read_csv(sweep / "compare" / "paired_differences.csv")
    d = paired[paired["metric"] == "dm_market_share_final"]
    assert (d[["ci_low", "unpaired_ci_low"]] >= -1).all().all()
    assert (d[["ci_high", "unpaired_ci_high"]] <= 1).all().all()
    report = (sweep / "compare" / "report.md").read_text()
    assert "**Warning:** 2 of 2 groups have fewer than 5 seeds" in report
    assert "107" not in report and "[0.0, 100.0]" in report


def test_five_seeds_give_no_warning(tmp_path, capsys):
    assert cmp.main([str(small_sweep(tmp_path / "sweep"))]) == 0
    assert "warning" not in capsys.readouterr().err
    assert "Warning" not in (tmp_path / "sweep" / "compare" / "report.md").read_text()


# --- Sweeps named relative to where the user is -------------------------------------------------------


def sweep_line(report: Path) -> str:
    return next(line for line in report.read_text().splitlines() if line.startswith("Sweep `"))


def test_the_report_names_its_sweep_relative_to_the_current_directory_or_repository(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    sweep = small_sweep(repo / "multirun" / "demo", range(2))
    monkeypatch.chdir(repo)
    assert sweep_line(cmp.compare("multirun/demo").report).startswith("Sweep `multirun/demo`:")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert sweep_line(cmp.compare(sweep).report).startswith("Sweep `multirun/demo`:")  # inside its repository
    loose = small_sweep(tmp_path / "loose", range(2))
    assert sweep_line(cmp.compare(loose).report).startswith(f"Sweep `{loose.resolve()}`:")


def test_committed_reports_name_no_machine_path():
    reports = sorted(ROOT.glob("experiments/*/report.md"))
    assert len(reports) >= 5
    for report in reports:
        line = sweep_line(report)
        assert line.startswith(f"Sweep `multirun/{report.parent.name}`:"), (report, line)


# --- Stable types in runs.parquet -----------------------------------------------------------------------


def test_runs_parquet_has_the_same_schema_whatever_the_data(tmp_path):
    """One sweep with public cost (ratios, tipping months, strategies), one without: one schema, one dataset."""
    with_cost, without = tmp_path / "with_cost", tmp_path / "without"
    for seed in range(2):
        for tariff in ("0.1", "0.3"):
            write_run(with_cost, ["+scenario=shared_services", f"imports.tariff={tariff}"],
                      summary(seed, 0.5, public_cost=True), seed=seed)
        for tariff in ("0", "1"):  # whole numbers: the config says tariff is a float
            write_run(without, ["+scenario=shared_services", f"imports.tariff={tariff}"], summary(seed, 0.1),
                      seed=seed)
    for sweep in (with_cost, without):
        cmp.compare(sweep)
    a, b = (pq.read_schema(s / "compare" / "runs.parquet") for s in (with_cost, without))
    assert a.equals(b), set(a) ^ set(b)
    assert a.field("benefit_cost_ratio").type == "double" and a.field("tipping_month").type == "int64"
    assert a.field("imports.tariff").type == "double" and a.field("tipped").type == "bool"
    assert a.field("strategies").type.value_type == "string"  # also when every run's list is empty
    table = ds.dataset([str(s / "compare" / "runs.parquet") for s in (with_cost, without)]).to_table()
    assert table.num_rows == 8 and table["benefit_cost_ratio"].null_count == 4
    ta, tb = (pq.read_schema(s / "compare" / "timeseries.parquet") for s in (with_cost, without))
    assert ta.equals(tb)


def test_polars_scans_two_sweeps_as_one(tmp_path):
    """The polars user's way: ``scan_parquet`` over both sweeps' runs.parquet (a SchemaError in the first version)."""
    pl = pytest.importorskip("polars")
    with_cost, without = tmp_path / "with_cost", tmp_path / "without"
    for seed in range(2):
        write_run(with_cost, ["+scenario=shared_services"], summary(seed, 0.5, public_cost=True), seed=seed)
        write_run(without, ["+scenario=shared_services"], summary(seed, 0.1), seed=seed)
    for sweep in (with_cost, without):
        cmp.compare(sweep)
    frame = pl.scan_parquet([str(s / "compare" / "runs.parquet") for s in (with_cost, without)]).collect()
    assert frame.height == 4
    assert frame["benefit_cost_ratio"].dtype == pl.Float64 and frame["benefit_cost_ratio"].null_count() == 2
    means = frame.group_by("public_spend_usd_total").agg(pl.col("dm_market_share_final").mean()).sort(
        "public_spend_usd_total")
    assert means["dm_market_share_final"].to_list() == pytest.approx([0.1, 0.5])
