"""The network types have their own mechanics (docs/ODD.md §4, Collectives)."""

import numpy as np
import pytest

from dmsim.model import DMModel

BASE = ["+scenario=shared_services", "workshops.initial=30", "network.coordination=0.6", "steps=12",
        "output.dashboard=false"]


def test_hubs_and_spokes_form_local_networks(make_config):
    m = DMModel(make_config([*BASE, "network.type=hub_spoke", "network.hubs=3"]))
    net = m.ws.network[: m.ws.n]
    assert set(np.unique(net)) <= {0, 1, 2} and len(np.unique(net)) > 1
    # Each workshop belongs to its nearest hub town.
    d = np.hypot(m.ws.x_km[: m.ws.n, None] - m.towns.x_km[None, :3], m.ws.y_km[: m.ws.n, None] - m.towns.y_km[None, :3])
    assert (net == d.argmin(axis=1)).all()
    mesh = DMModel(make_config([*BASE, "network.type=mesh"]))
    assert (mesh.ws.network[: mesh.ws.n] == 0).all()
    ind = DMModel(make_config([*BASE, "network.type=independent"]))
    assert (ind.ws.network[: ind.ws.n] == -1).all()


def test_platform_takes_its_commission_and_lists_members(make_config):
    m = DMModel(make_config([*BASE, "network.type=platform", "network.platform_commission=0.1"]))
    m.step()
    revenue = m.ws.revenue_usd[: m.ws.n][m.ws.network[: m.ws.n] >= 0].sum()
    assert revenue > 0
    assert m.ledger.flows[("ws", "trade")] == pytest.approx(0.1 * revenue)
    mesh = DMModel(make_config([*BASE, "network.type=mesh"]))
    mesh.step()
    assert ("ws", "trade") not in mesh.ledger.flows
    # Listed workshops are more attractive to buyers, other things equal.
    from dmsim.market import workshop_terms

    eff = np.ones((2, 7))
    t = workshop_terms(m, eff, np.zeros(2), np.zeros(2), np.array([True, False]))
    assert t.const[0] - t.const[1] == pytest.approx(m.cfg.network.platform_visibility)
