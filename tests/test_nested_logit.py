"""The nested-logit buyer choice against its closed form, and the IIA property."""

import math

import numpy as np
import pytest

from dmsim.market import nested_logit


def closed_form(u_ws: list[float], u_imp: float, rho: float) -> tuple[list[float], float, float]:
    inner = sum(math.exp(u / rho) for u in u_ws)
    iv = rho * math.log(inner)
    denom = math.exp(iv) + math.exp(u_imp) + 1.0  # no purchase has utility 0
    p_nest = math.exp(iv) / denom
    return [p_nest * math.exp(u / rho) / inner for u in u_ws], math.exp(u_imp) / denom, 1.0 / denom


def test_matches_hand_computed_case():
    # u = (1.0, 0.5), import 0.8, rho = 0.5, by hand:
    # inner = e^2 + e^1 = 10.1073; IV = 0.5 ln 10.1073 = 1.15658; e^IV = 3.17920
    # denom = 3.17920 + e^0.8 (2.22554) + 1 = 6.40474
    # P_nest = 0.49638; P_1 = 0.49638 · e^2/inner = 0.36290; P_2 = 0.13350
    # P_import = 0.34748; P_none = 0.15614
    ch = nested_logit(np.array([[1.0, 0.5]]), np.array([0.8]), 0.5)
    assert ch.workshop[0] == pytest.approx([0.36290, 0.13350], abs=1e-4)
    assert ch.imported[0] == pytest.approx(0.34748, abs=1e-4)
    assert ch.none[0] == pytest.approx(0.15614, abs=1e-4)
    assert ch.logsum[0] == pytest.approx(math.log(6.40474), abs=1e-4)


@pytest.mark.parametrize("rho", [0.2, 0.5, 1.0])
def test_matches_closed_form_and_sums_to_one(rho):
    rng = np.random.default_rng(7)
    u = rng.normal(0, 2, size=(50, 4))
    u[:, 3] = -np.inf  # an unavailable option
    u[0, :] = -np.inf  # a group with no reachable workshop
    u_imp = rng.normal(0, 2, size=50)
    ch = nested_logit(u, u_imp, rho)
    total = ch.workshop.sum(axis=1) + ch.imported + ch.none
    assert np.allclose(total, 1.0)
    assert np.allclose(ch.workshop.sum(axis=1), ch.dm)
    assert ch.dm[0] == 0.0 and np.all(ch.workshop[:, 3] == 0.0)
    for g in range(1, 50):
        ws, imp, none = closed_form(list(u[g, :3]), u_imp[g], rho)
        assert ch.workshop[g, :3] == pytest.approx(ws, rel=1e-9)
        assert ch.imported[g] == pytest.approx(imp, rel=1e-9)
        assert ch.none[g] == pytest.approx(none, rel=1e-9)


def test_large_utilities_do_not_overflow():
    ch = nested_logit(np.array([[800.0, 790.0]]), np.array([-800.0]), 0.3)
    assert np.isfinite(ch.logsum).all()
    assert ch.dm[0] == pytest.approx(1.0)


def test_duplicating_a_workshop_barely_raises_the_dm_share():
    """IIA: listing a clone of a workshop should not make DM look stronger."""
    one = np.array([[0.0]])
    two = np.array([[0.0, 0.0]])
    u_imp = np.array([0.0])
    gain_nested = nested_logit(two, u_imp, 0.3).dm[0] - nested_logit(one, u_imp, 0.3).dm[0]
    gain_plain = nested_logit(two, u_imp, 1.0).dm[0] - nested_logit(one, u_imp, 1.0).dm[0]
    # Plain logit: 1/3 -> 1/2 (+0.167) just from the clone; the nest gives far less.
    assert gain_plain == pytest.approx(0.5 - 1 / 3)
    assert gain_nested < 0.4 * gain_plain
    # With rho -> 0 the clone adds nothing.
    gain_tight = nested_logit(two, u_imp, 0.01).dm[0] - nested_logit(one, u_imp, 0.01).dm[0]
    assert gain_tight < 0.01
