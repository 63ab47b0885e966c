"""Interactive dashboard: Mesa's SolaraViz over the dmsim model.

Start it from the repository root with ``.venv/bin/solara run dmsim/dashboard.py``. The
controls compose the same typed config as ``python -m dmsim +scenario=NAME KEY=VALUE ...``
(:func:`config_overrides` lists those overrides); the charts read the model's own monthly
metrics and its columnar agent tables, so they show exactly what a command-line run records.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np
import pandas as pd
import solara
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from mesa.visualization import Slider, SolaraViz

from dmsim.cli import group_options
from dmsim.config import NETWORK_TYPES, SERVICES, ImportsConfig
from dmsim.costs import UnitCosts
from dmsim.market import Sales
from dmsim.model import DMModel
from dmsim.plotting import new_figure
from dmsim.run import compose_config
from dmsim.state import PROVIDER_GLOBAL, PROVIDER_LOCAL, SEGMENT_HOUSEHOLD

AS_SCENARIO = "as scenario"  # a selector choice that keeps the scenario's own value
COORDINATION_CHOICES: tuple[str, ...] = (AS_SCENARIO, "0", "0.25", "0.5", "0.75", "1")
SUBSIDY_CHOICES: tuple[str, ...] = (AS_SCENARIO, "0", "0.4", "0.6", "0.8")
NO_SHOCK = "none"  # the calm world: no ``+shock`` override (configs/shock/none.yaml changes nothing either)
# "none" first, then every file of configs/shock/ (+shock=NAME).
SHOCK_CHOICES: tuple[str, ...] = (NO_SHOCK, *(name for name in group_options("shock") if name != NO_SHOCK))
SHOCK_COLOR, SHOCK_ALPHA = "tab:orange", 0.15  # shading of the months with a shock on
# A subsidy chosen here runs as in the big_push scenario: from month 0 for 24 months, out of
# a 3 M USD public budget.
SUBSIDY_MONTHS = 24
SUBSIDY_BUDGET_USD = 3_000_000
DEFAULT_TARIFF = ImportsConfig().tariff  # the schema's (baseline) value; no scenario changes it
COST_PARTS: tuple[str, ...] = ("material", "labour", "setup", "overhead")
FIGSIZE = (6.4, 4.2)
# compose_config initialises Hydra's global state: sessions pressing Reset at once must take turns.
_COMPOSE_LOCK = threading.Lock()


def config_overrides(scenario_name: str = "baseline", network_type: str = AS_SCENARIO,
                     coordination: str = AS_SCENARIO, tariff: float = DEFAULT_TARIFF,
                     provider_subsidy: str = AS_SCENARIO, seed: int = 0, shock: str = NO_SHOCK) -> list[str]:
    """Command-line overrides that give the dashboard's settings (``python -m dmsim OVERRIDES``).

    Args:
        scenario_name: a file of ``configs/scenario/``.
        network_type: one of ``NETWORK_TYPES``, or ``AS_SCENARIO``.
        coordination: ``network.coordination`` in [0, 1] as text, or ``AS_SCENARIO``.
        tariff: ``imports.tariff``, fraction of the import value.
        provider_subsidy: share of local providers' fixed cost paid by a public start-up
            subsidy (``SUBSIDY_MONTHS`` months, ``SUBSIDY_BUDGET_USD`` budget), as text, or
            ``AS_SCENARIO``.
        seed: the run's seed.
        shock: a file of ``configs/shock/`` (``+shock=NAME``), or ``NO_SHOCK``.
    """
    out = [f"+scenario={scenario_name}"]
    if shock != NO_SHOCK:
        out.append(f"+shock={shock}")
    out += [f"seed={int(seed)}", f"imports.tariff={float(tariff):g}"]
    if network_type != AS_SCENARIO:
        out.append(f"network.type={network_type}")
    if coordination != AS_SCENARIO:
        out.append(f"network.coordination={coordination}")
    if provider_subsidy != AS_SCENARIO:
        out.append(f"policy.provider_subsidy_share={provider_subsidy}")
        if float(provider_subsidy) > 0:
            out += [f"policy.provider_subsidy_months={SUBSIDY_MONTHS}", f"policy.budget_usd={SUBSIDY_BUDGET_USD}"]
    return out


class DashboardModel(DMModel):
    """``DMModel`` built from the dashboard's controls (SolaraViz re-creates it with keywords).

    It stops (``running = False``) after ``steps`` months, like a command-line run, and keeps
    last month's market outcome for the map.
    """

    def __init__(self, scenario_name: str = "baseline", network_type: str = AS_SCENARIO,
                 coordination: str = AS_SCENARIO, tariff: float = DEFAULT_TARIFF,
                 provider_subsidy: str = AS_SCENARIO, seed: int = 0, shock: str = NO_SHOCK) -> None:
        overrides = config_overrides(scenario_name, network_type, coordination, tariff, provider_subsidy, seed,
                                     shock)
        with _COMPOSE_LOCK:
            cfg = compose_config(overrides)
        super().__init__(cfg)
        self.overrides = overrides
        self.shock_name = shock
        self.last_sales: Sales | None = None

    def clear_market(self, price: np.ndarray, unit: UnitCosts, effects: np.ndarray) -> Sales:
        """Phase 3 as in ``DMModel``; the outcome is kept for the map."""
        self.last_sales = super().clear_market(price, unit, effects)
        return self.last_sales

    def step(self) -> None:
        """One month; the model stops at the configured horizon.

        SolaraViz's play loop calls ``step`` "render interval" times between checks of
        ``running``, so a step past the horizon must do nothing.
        """
        if self.month >= self.cfg.steps:
            self.running = False
            return
        super().step()
        self.running = self.month < self.cfg.steps

    def command(self) -> str:
        """The command line that runs this model's config."""
        return "python -m dmsim " + " ".join(self.overrides)


# ---------------------------------------------------------------------- data for the views
def timeseries(model: DMModel) -> pd.DataFrame:
    """The monthly metrics recorded so far (no rows before the first step)."""
    return model.metrics.frame() if model.metrics.rows else pd.DataFrame({"month": []})


def map_points(model: DMModel) -> dict[str, pd.DataFrame]:
    """Positions (km) of what the map shows, one row per point.

    ``buyers``: every buyer group, with ``people``, ``institution`` and ``dm_share`` (DM units
    over DM + imported units bought last month; NaN before the first month or if it bought
    none). ``workshops``: active workshops, with ``units`` sold last month. ``providers``:
    active providers, with ``service``, ``kind`` and ``clients``; providers have no site in
    the model, so a local one is drawn at the mean position of its client workshops (at the
    port without clients) and a global one at the port, where it keeps its regional office.
    ``port``: the port/capital where imports arrive.
    """
    bg, ws, pv = model.bg, model.ws, model.pv
    g = bg.n
    dm_share = np.full(g, math.nan)
    sales = getattr(model, "last_sales", None)
    if sales is not None:
        dm = sales.units_by_group()
        bought = dm + sales.import_units.sum(axis=1)
        dm_share = np.divide(dm, bought, out=np.full(g, math.nan), where=bought > 0)
    buyers = pd.DataFrame({"x_km": bg.x_km[:g], "y_km": bg.y_km[:g], "people": bg.people[:g],
                           "institution": bg.segment[:g] != SEGMENT_HOUSEHOLD, "dm_share": dm_share})
    live = np.flatnonzero(ws.active[: ws.n])
    workshops = pd.DataFrame({"x_km": ws.x_km[live], "y_km": ws.y_km[live], "units": ws.units[live].sum(axis=1)})
    port_x, port_y = model.towns.port
    rows = np.flatnonzero(pv.active[: pv.n])
    px, py = np.full(rows.size, port_x), np.full(rows.size, port_y)
    for i, row in enumerate(rows):
        clients = live[ws.provider[live, pv.service[row]] == row]
        if pv.kind[row] == PROVIDER_LOCAL and clients.size:
            px[i], py[i] = ws.x_km[clients].mean(), ws.y_km[clients].mean()
    providers = pd.DataFrame({"x_km": px, "y_km": py, "service": [SERVICES[s] for s in pv.service[rows]],
                              "kind": np.where(pv.kind[rows] == PROVIDER_GLOBAL, "global", "local"),
                              "clients": pv.clients[rows]})
    port = pd.DataFrame({"x_km": [port_x], "y_km": [port_y]})
    return {"buyers": buyers, "workshops": workshops, "providers": providers, "port": port}


# ---------------------------------------------------------------------- figures
def _months_axes(ax: Axes, model: DMModel, df: pd.DataFrame, ylabel: str) -> None:
    ax.set_xlim(0, model.cfg.steps)
    ax.set_xlabel("month")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if df.empty:
        ax.text(0.5, 0.5, "press Step or ▶ to run months", transform=ax.transAxes, ha="center", color="grey")


def shock_spans(df: pd.DataFrame) -> list[tuple[int, int]]:
    """``(first, last)`` month of each stretch of consecutive months with a shock on (``shock_active``)."""
    if df.empty or "shock_active" not in df:
        return []
    spans: list[tuple[int, int]] = []
    for m in df.loc[df["shock_active"].astype(bool), "month"].astype(int):
        if spans and spans[-1][1] == m - 1:
            spans[-1] = (spans[-1][0], m)
        else:
            spans.append((m, m))
    return spans


def _shade_shocks(ax: Axes, df: pd.DataFrame) -> None:
    """Shade the months with a shock on (each month drawn at its index, so ± half a month); one legend entry."""
    for i, (first, last) in enumerate(shock_spans(df)):
        ax.axvspan(first - 0.5, last + 0.5, color=SHOCK_COLOR, alpha=SHOCK_ALPHA, lw=0, zorder=0,
                   label="shock on" if i == 0 else None)


def share_figure(model: DMModel) -> Figure:
    """DM market share over months: overall and by buyer segment; months with a shock on shaded."""
    df = timeseries(model)
    fig, ax = new_figure(figsize=FIGSIZE)
    if not df.empty:
        ax.plot(df["month"], df["dm_market_share"], color="tab:blue", lw=2, label="all buyers")
        ax.plot(df["month"], df["dm_market_share_household"], color="tab:blue", ls="--", label="households")
        ax.plot(df["month"], df["dm_market_share_institution"], color="tab:purple", ls=":", label="institutions")
        _shade_shocks(ax, df)
        ax.legend(loc="upper left", fontsize="small")
    ax.set_ylim(0, 1)
    ax.set_title("DM market share (DM units / units bought)")
    _months_axes(ax, model, df, "share")
    return fig


def cost_figure(model: DMModel) -> Figure:
    """DM unit cost split into materials, labour, set-up and service overhead, and the price; shock months shaded."""
    df = timeseries(model)
    fig, ax = new_figure(figsize=FIGSIZE)
    if not df.empty:
        parts = [df[f"unit_cost_{p}_usd"].fillna(0.0) for p in COST_PARTS]
        ax.stackplot(df["month"], parts, labels=["materials", "labour", "set-up", "service overhead"],
                     colors=["#8c8c8c", "#4c72b0", "#dd8452", "#c44e52"], alpha=0.85)
        ax.plot(df["month"], df["mean_price_usd"], color="black", lw=1.5, label="price")
        _shade_shocks(ax, df)
        ax.legend(loc="upper right", fontsize="small")
    ax.set_title("DM unit cost breakdown (demand-weighted basket)")
    _months_axes(ax, model, df, "USD per unit")
    return fig


def unmet_figure(model: DMModel) -> Figure:
    """Unmet demand (units buyers chose to buy and could not get) and informal purchases; shock months shaded."""
    df = timeseries(model)
    fig, ax = new_figure(figsize=FIGSIZE)
    if not df.empty:
        ax.plot(df["month"], df["unmet_demand_units"], color="tab:red", lw=2, label="unmet demand")
        if df["informal_units"].any():  # only with an informal alternative (products.*.informal_price_usd)
            ax.plot(df["month"], df["informal_units"], color="tab:brown", ls="--", label="informal units bought")
        _shade_shocks(ax, df)
        ax.legend(loc="upper left", fontsize="small")
    ax.set_ylim(bottom=0)
    ax.set_title("Unmet demand (units chosen but not got)")
    _months_axes(ax, model, df, "units per month")
    return fig


def ecosystem_figure(model: DMModel) -> Figure:
    """Active workshops and providers over months; shock months shaded."""
    df = timeseries(model)
    fig, ax = new_figure(figsize=FIGSIZE)
    if not df.empty:
        ax.plot(df["month"], df["workshops_active"], color="tab:green", lw=2, label="workshops")
        ax.plot(df["month"], df["providers_active"], color="tab:red", lw=2, label="providers (all)")
        ax.plot(df["month"], df["providers_local_active"], color="tab:red", ls="--", label="local providers")
        _shade_shocks(ax, df)
        ax.legend(loc="upper left", fontsize="small")
    ax.set_ylim(bottom=0)
    ax.set_title("Workshops and shared-service providers")
    _months_axes(ax, model, df, "active")
    return fig


def map_figure(model: DMModel) -> Figure:
    """The region: buyer groups (coloured by last month's DM share), workshops, providers, port."""
    pts = map_points(model)
    fig, ax = new_figure(figsize=FIGSIZE)
    b = pts["buyers"]
    house = b[~b["institution"]]
    sold = house["dm_share"].notna()  # household groups all hold the same number of people
    ax.scatter(house["x_km"][~sold], house["y_km"][~sold], s=8, c="lightgrey", label="households, no purchase")
    scat = ax.scatter(house["x_km"][sold], house["y_km"][sold], s=8, c=house["dm_share"][sold], cmap="RdYlBu",
                      vmin=0, vmax=1, alpha=0.8, label="households, colour = DM share")
    inst = b[b["institution"]]
    ax.scatter(inst["x_km"], inst["y_km"], marker="s", s=14, facecolors="none", edgecolors="black", lw=0.6,
               label="institutions")
    w = pts["workshops"]
    ax.scatter(w["x_km"], w["y_km"], marker="^", s=45, c="tab:green", edgecolors="black", lw=0.5,
               label=f"workshops ({len(w)})")
    p = pts["providers"]
    local, glob = p[p["kind"] == "local"], p[p["kind"] == "global"]
    if len(local):
        ax.scatter(local["x_km"], local["y_km"], marker="*", s=160, c="tab:red", edgecolors="black", lw=0.5,
                   label=f"local providers ({len(local)}),\nat their clients' centre")
    if len(glob):
        ax.scatter(glob["x_km"], glob["y_km"], marker="P", s=120, c="tab:orange", edgecolors="black", lw=0.5,
                   label=f"global providers ({len(glob)}),\nat the port")
    ax.scatter(pts["port"]["x_km"], pts["port"]["y_km"], marker="D", s=70, c="black", label="port (imports)")
    side = model.cfg.region.size_km
    ax.set(xlim=(-0.02 * side, 1.02 * side), ylim=(-0.02 * side, 1.02 * side), aspect="equal",
           xlabel="km", title=f"Region, month {model.month}")
    fig.colorbar(scat, ax=ax, label="DM share", shrink=0.7, pad=0.02)
    fig.legend(loc="outside right center", fontsize="x-small", frameon=False)
    return fig


# ---------------------------------------------------------------------- SolaraViz components
def _show(fig: Figure, model: DashboardModel) -> None:
    solara.FigureMatplotlib(fig, dependencies=[id(model), model.month], format="png", dpi=90)


def RegionMap(model: DashboardModel) -> None:
    """Map of buyer groups, workshops, providers and the port."""
    _show(map_figure(model), model)


def ShareChart(model: DashboardModel) -> None:
    """DM market share over months."""
    _show(share_figure(model), model)


def CostChart(model: DashboardModel) -> None:
    """DM unit cost breakdown over months."""
    _show(cost_figure(model), model)


def EcosystemChart(model: DashboardModel) -> None:
    """Workshops and providers over months."""
    _show(ecosystem_figure(model), model)


def UnmetChart(model: DashboardModel) -> None:
    """Unmet demand over months, with the shock window."""
    _show(unmet_figure(model), model)


def RunStatus(model: DashboardModel) -> None:
    """Last month's headline figures and the command line that reproduces this run."""
    df = timeseries(model)
    with solara.Column():
        shock = getattr(model, "shock_name", NO_SHOCK)
        world = model.cfg.scenario + (f" + shock {shock}" if shock != NO_SHOCK else "")
        solara.Text(f"{world}: month {model.month} of {model.cfg.steps}")
        if not df.empty:
            last = df.iloc[-1]
            solara.Text(f"DM share {last['dm_market_share']:.1%}, workshops {last['workshops_active']:.0f}, "
                        f"providers {last['providers_active']:.0f}, "
                        f"services shared {last['shared_service_share']:.0%}, "
                        f"unit cost {last['mean_unit_cost_usd']:.2f} USD"
                        + (f"; shock on, unmet demand {last['unmet_demand_units']:,.0f} units"
                           if last["shock_active"] else ""))
        solara.Text("Same run from the command line:")
        solara.Text(model.command(), style={"font-family": "monospace", "font-size": "0.85em"})


COMPONENTS = [RegionMap, ShareChart, CostChart, EcosystemChart, UnmetChart, RunStatus]

MODEL_PARAMS: dict[str, Any] = {
    "scenario_name": {"type": "Select", "value": "baseline", "values": group_options("scenario"),
                      "label": "Scenario"},
    "shock": {"type": "Select", "value": NO_SHOCK, "values": list(SHOCK_CHOICES), "label": "Shock"},
    "network_type": {"type": "Select", "value": AS_SCENARIO, "values": [AS_SCENARIO, *NETWORK_TYPES],
                     "label": "Network type"},
    "coordination": {"type": "Select", "value": AS_SCENARIO, "values": list(COORDINATION_CHOICES),
                     "label": "Coordination (0-1)"},
    "tariff": Slider("Import tariff (fraction)", value=DEFAULT_TARIFF, min=0.0, max=1.0, step=0.05),
    "provider_subsidy": {"type": "Select", "value": AS_SCENARIO, "values": list(SUBSIDY_CHOICES),
                         "label": "Provider subsidy (share of fixed cost)"},
    "seed": Slider("Seed", value=0, min=0, max=99, step=1),
}


def make_page(model: DashboardModel | solara.Reactive[DashboardModel]) -> Any:
    """The SolaraViz page for ``model``: controls, the map and four live charts."""
    return SolaraViz(model, components=COMPONENTS, model_params=MODEL_PARAMS, name="dmsim: distributed manufacturing")


page = make_page(DashboardModel())
