"""Output files: their permissions on a shared filesystem, and the per-run figure's sourcing panel."""

from __future__ import annotations

import os
import stat

import pytest

from dmsim.config import SERVICES
from dmsim.outputs import atomic_write, plot_dashboard, write_run
from dmsim.run import compose_config, config_yaml, run

SMALL = ["steps=12", "region.population=200000", "region.buyer_groups=300"]


@pytest.fixture(scope="module")
def result():
    cfg = compose_config(["+scenario=shared_services", "output.agent_snapshots=true", *SMALL])
    return cfg, run(cfg)


@pytest.fixture
def umask():
    """Set the process umask for one test, restoring it after (tests run in one thread)."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize("mask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o644)])
def test_outputs_are_readable_as_the_umask_allows(tmp_path, result, umask, mask, mode):
    """0644 less the umask: readable by colleagues under 022, private under 077, never group-writable."""
    cfg, r = result
    umask(mask)
    out = tmp_path / "run"
    write_run(out, config_yaml(cfg), r.timeseries, r.summary,
              snapshots=r.model.metrics.snapshots[0] if r.model.metrics.snapshots else None)
    atomic_write(out / "extra.csv", lambda p: r.timeseries.to_csv(p))  # any writer through atomic_write
    files = sorted(p.name for p in out.iterdir())
    assert {"config.yaml", "timeseries.parquet", "workshops.parquet", "dashboard.png", "summary.json",
            "extra.csv"} == set(files)
    for name in files:
        assert stat.S_IMODE((out / name).stat().st_mode) == mode, (name, oct(mask))


def test_a_failed_write_leaves_no_temporary_file(tmp_path):
    def boom(p):
        p.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(tmp_path / "x.json", boom)
    assert list(tmp_path.iterdir()) == []


def _sourcing_legend(fig):
    ax = next(a for a in fig.axes if a.get_title().startswith("Shared sourcing"))
    return ax, [t.get_text() for t in ax.get_legend().get_texts()]


def test_identical_sourcing_series_are_one_labelled_line(result):
    cfg, r = result
    df = r.timeseries.copy()
    # Three services that share one series, two that share another, two on their own.
    base = df["dm_market_share"].fillna(0.0)
    groups = [["certification", "design", "logistics"], ["marketing", "finance"], ["maintenance"], ["training"]]
    for i, names in enumerate(groups):
        for s in names:
            df[f"shared_service_share_{s}"] = (base * 0.1 + 0.2 * i).clip(0, 1)
    fig = plot_dashboard(df, r.summary)
    ax, labels = _sourcing_legend(fig)
    assert len(labels) == len(groups) + 1  # one per distinct series, plus the DM market share
    for names in groups:
        assert ", ".join(names) in labels
    assert sorted(s for label in labels[:-1] for s in label.split(", ")) == sorted(SERVICES)
    lines = [ln for ln in ax.get_lines() if ln.get_label() in labels[:-1]]
    assert len({(ln.get_linestyle(), ln.get_color()) for ln in lines}) == len(lines)  # each line tellable apart


def test_distinct_sourcing_series_each_get_a_line(result):
    cfg, r = result
    df = r.timeseries.copy()
    for i, s in enumerate(SERVICES):
        df[f"shared_service_share_{s}"] = 0.1 * i
    _, labels = _sourcing_legend(plot_dashboard(df, r.summary))
    assert labels[:-1] == list(SERVICES)


def test_dashboard_png_is_written_from_the_returned_figure(tmp_path, result):
    cfg, r = result
    fig = plot_dashboard(r.timeseries, r.summary, tmp_path / "d.png")
    assert (tmp_path / "d.png").read_bytes()[:4] == b"\x89PNG"
    assert len(fig.axes) == 4
