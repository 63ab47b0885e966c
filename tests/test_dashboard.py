"""The Solara dashboard builds, steps and resets headless, through SolaraViz's own controls."""

from pathlib import Path

import ipyvuetify as v
import ipywidgets
import numpy as np
import pandas as pd
import pytest
import solara

from dmsim import dashboard as d
from dmsim.cli import group_options
from dmsim.model import DMModel
from dmsim.run import compose_config
from dmsim.state import PROVIDER_LOCAL


@pytest.mark.parametrize("scenario", group_options("scenario"))
def test_default_controls_give_the_scenarios_cli_config(scenario):
    # Left at their defaults, the controls add only the seed and tariff the scenario already
    # has: the dashboard then simulates exactly `python -m dmsim +scenario=NAME`.
    extra = d.config_overrides(scenario)[1:]
    assert d.config_overrides(scenario)[0] == f"+scenario={scenario}"
    assert extra == ["seed=0", f"imports.tariff={d.DEFAULT_TARIFF:g}"]
    cli = compose_config([f"+scenario={scenario}"])
    assert (cli.seed, cli.imports.tariff) == (0, d.DEFAULT_TARIFF)


def test_each_control_reaches_its_config_key():
    m = d.DashboardModel(scenario_name="hub_spoke", network_type="mesh", coordination="0.75", tariff=0.35,
                         provider_subsidy="0.4", seed=7)
    cfg = m.cfg
    assert cfg.scenario == "hub_spoke"
    assert (cfg.network.type, cfg.network.coordination, cfg.imports.tariff, cfg.seed) == ("mesh", 0.75, 0.35, 7)
    assert cfg.policy.provider_subsidy_share == 0.4
    assert cfg.policy.provider_subsidy_months == d.SUBSIDY_MONTHS
    assert cfg.policy.budget_usd == d.SUBSIDY_BUDGET_USD
    assert m.command() == "python -m dmsim " + " ".join(m.overrides)
    cli = DMModel(compose_config(m.overrides))  # the same run from the command line's config
    for _ in range(3):
        m.step()
        cli.step()
    pd.testing.assert_frame_equal(d.timeseries(m), cli.metrics.frame())
    # "as scenario" keeps the scenario's values; another scenario gives another config.
    push = compose_config(d.config_overrides("big_push"))
    assert push.policy.provider_subsidy_share == 0.8
    assert compose_config(d.config_overrides("baseline")).policy.provider_subsidy_share == 0.0
    assert compose_config(d.config_overrides("big_push", provider_subsidy="0")).policy.provider_subsidy_share == 0.0
    assert compose_config(d.config_overrides("platform")).network.type == "platform"


SHOCK_FILES = sorted(p.stem for p in (Path(d.__file__).parent / "configs" / "shock").glob("*.yaml"))


def test_shock_selector_lists_every_shock_file():
    assert SHOCK_FILES, "no configs/shock/*.yaml"
    values = d.MODEL_PARAMS["shock"]["values"]
    assert values[0] == d.NO_SHOCK == d.MODEL_PARAMS["shock"]["value"]
    assert sorted(set(values)) == sorted({d.NO_SHOCK, *SHOCK_FILES}) and len(values) == len(set(values))


@pytest.mark.parametrize("shock", [s for s in SHOCK_FILES if s != d.NO_SHOCK])
def test_each_shock_choice_composes_as_on_the_command_line(shock):
    overrides = d.config_overrides("baseline", shock=shock)
    assert overrides[:2] == ["+scenario=baseline", f"+shock={shock}"]
    cfg = compose_config(overrides)
    assert cfg == compose_config(["+scenario=baseline", f"+shock={shock}"])  # the controls' defaults add nothing
    sizes = [getattr(cfg.shocks, k).size for k in ("freight", "fx", "import_disruption", "outages", "demand_surge")]
    assert any(size > 0 for size in sizes)  # the file switches some shock on


def test_chosen_shock_reaches_the_model_config_and_the_command():
    calm = d.DashboardModel()
    assert calm.cfg.shocks.freight.size == 0 and "+shock" not in calm.command()
    m = d.DashboardModel(scenario_name="shared_services", shock="freight_spike", seed=2)
    assert m.cfg.shocks.freight.size > 0
    assert "+shock=freight_spike" in m.command().split()
    assert m.cfg == compose_config(["+scenario=shared_services", "+shock=freight_spike", "seed=2"])


def test_charts_shade_the_shock_months_and_show_unmet_demand(monkeypatch):
    # A freight shock in months 2-4 of a 7-month run (the shock files start in year five: too slow here).
    base = d.config_overrides
    early = ["steps=7", "shocks.freight.start_month=2", "shocks.freight.months=3"]
    monkeypatch.setattr(d, "config_overrides", lambda *a, **k: [*base(*a, **k), *early])
    m = d.DashboardModel(shock="freight_spike")
    assert m.command().split()[3:6] == ["+scenario=baseline", "+shock=freight_spike", "seed=0"]  # shown command
    for _ in range(7):
        m.step()
    df = d.timeseries(m)
    assert list(df.loc[df["shock_active"], "month"]) == [2, 3, 4]
    assert d.shock_spans(df) == [(2, 4)]
    for fig in (d.share_figure(m), d.unmet_figure(m), d.cost_figure(m), d.ecosystem_figure(m)):
        ax = fig.axes[0]
        assert [(p.get_x(), p.get_x() + p.get_width()) for p in ax.patches] == [(1.5, 4.5)], ax.get_title()
        assert [t.get_text() for t in ax.get_legend().get_texts()].count("shock on") == 1
    unmet = d.unmet_figure(m).axes[0].lines[0]
    assert list(unmet.get_ydata()) == list(df["unmet_demand_units"])
    # Without a shock: no shading.
    calm = d.DashboardModel()
    calm.step()
    assert not d.share_figure(calm).axes[0].patches and not d.unmet_figure(calm).axes[0].patches


def _render(model):
    @solara.component
    def App():
        # The AppLayout hosts SolaraViz's sidebar (controls) as `solara run` does.
        return solara.AppLayout(children=[d.make_page(model)])

    _, rc = solara.render(App(), handle_error=False)
    return rc


def _images(rc):
    return [bytes(w.value) for w in rc.find(ipywidgets.Image).widgets]


def _texts(rc, text):
    return rc.find(v.Html, children=[text]).widgets


def _no_error(rc):
    return not rc.find(v.Alert, type="error").widgets


def test_page_steps_and_resets_through_its_controls():
    model = solara.reactive(d.DashboardModel())
    rc = _render(model)
    labels = {w.label for w in rc.find(v.Select).widgets} | {w.label for w in rc.find(v.Slider).widgets}
    assert {p["label"] if isinstance(p, dict) else p.label for p in d.MODEL_PARAMS.values()} <= labels
    before = _images(rc)
    assert len(before) == 5  # the map and four charts
    assert _texts(rc, model.value.command())  # the command line that reproduces the run

    for _ in range(2):
        rc.find(v.Btn, children=["Step"]).widget.click()
    assert model.value.month == 2
    assert len(d.timeseries(model.value)) == 2
    assert _texts(rc, "baseline: month 2 of 120")
    after = _images(rc)
    assert all(a != b for a, b in zip(after, before, strict=True))  # every view re-rendered
    assert _no_error(rc)

    rc.find(v.Select, label="Scenario").widget.v_model = "big_push"
    rc.find(v.Slider, label="Import tariff (fraction)").widget.v_model = 0.3
    rc.find(v.Select, label="Network type").widget.v_model = "platform"
    assert rc.find(v.Select, label="Shock").widget.items == list(d.SHOCK_CHOICES)
    rc.find(v.Select, label="Shock").widget.v_model = "import_disruption"
    rc.find(v.Btn, children=["Reset"]).widget.click()
    new = model.value
    assert isinstance(new, d.DashboardModel) and new.month == 0
    assert (new.cfg.scenario, new.cfg.imports.tariff, new.cfg.network.type) == ("big_push", 0.3, "platform")
    assert new.cfg.policy.provider_subsidy_share == 0.8  # the scenario's own subsidy ("as scenario")
    assert new.cfg.shocks.import_disruption.size > 0 and "+shock=import_disruption" in new.command()
    assert _texts(rc, new.command())
    assert _texts(rc, "big_push + shock import_disruption: month 0 of 120")
    rc.find(v.Btn, children=["Step"]).widget.click()
    assert new.month == 1 and _no_error(rc)


def test_chart_series_grow_and_the_model_stops_at_its_horizon():
    m = d.DashboardModel(scenario_name="shared_services")
    assert len(d.share_figure(m).axes[0].lines) == 0  # nothing before the first month
    m.cfg.steps = 4
    for month in range(1, 5):
        m.step()
        assert len(d.share_figure(m).axes[0].lines[0].get_xdata()) == month
        assert len(d.ecosystem_figure(m).axes[0].lines[0].get_xdata()) == month
    stack = d.cost_figure(m).axes[0].collections
    assert len(stack) == len(d.COST_PARTS)
    df = d.timeseries(m)
    total = sum(df[f"unit_cost_{p}_usd"] for p in d.COST_PARTS)
    assert np.allclose(total, df["mean_unit_cost_usd"])  # the stack adds up to the unit cost
    assert not m.running
    for _ in range(3):  # the play loop may call step() again within one render interval
        m.step()
    assert m.month == 4 and len(d.timeseries(m)) == 4 and not m.running


def test_map_has_one_point_per_buyer_group_and_active_agent():
    m = d.DashboardModel(scenario_name="shared_services", seed=3)
    pts = d.map_points(m)
    assert pts["buyers"]["dm_share"].isna().all()  # nobody has bought yet
    for _ in range(6):
        m.step()
    pts = d.map_points(m)
    ws, pv = m.ws, m.pv
    assert len(pts["buyers"]) == m.bg.n
    assert len(pts["workshops"]) == ws.active[: ws.n].sum() > 0
    assert len(pts["providers"]) == pv.active[: pv.n].sum() > 0
    share = pts["buyers"]["dm_share"].dropna()
    assert len(share) > 0 and share.between(0, 1).all()
    # A local provider sits at the centre of its active client workshops.
    row = int(np.flatnonzero(pv.active[: pv.n] & (pv.kind[: pv.n] == PROVIDER_LOCAL))[0])
    clients = ws.active[: ws.n] & (ws.provider[: ws.n, pv.service[row]] == row)
    first = pts["providers"].iloc[0]
    assert np.flatnonzero(pv.active[: pv.n])[0] == row
    if clients.any():
        assert first["x_km"] == pytest.approx(ws.x_km[: ws.n][clients].mean())
        assert first["y_km"] == pytest.approx(ws.y_km[: ws.n][clients].mean())
    fig = d.map_figure(m)
    offsets = [c.get_offsets().shape[0] for c in fig.axes[0].collections]
    assert sum(offsets) == m.bg.n + len(pts["workshops"]) + len(pts["providers"]) + 1  # + the port
