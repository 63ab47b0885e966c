"""An informal or second-hand alternative: what DM competes with where buyers fall back on it."""

import numpy as np
import pytest

from dmsim.market import buyer_terms, nested_logit
from dmsim.model import DMModel
from dmsim.run import compose_config, run

SMALL = ["region.buyer_groups=400", "output.dashboard=false", "+scenario=shared_services", "seed=2", "steps=36"]


def test_outside_log_sum_is_the_four_alternative_model():
    """Not buying and the informal good as outside options: shares as if each were an alternative."""
    rng = np.random.default_rng(0)
    u_ws = rng.normal(size=(5, 3))
    u_imp, u_inf, rho = rng.normal(size=5), rng.normal(size=5), 0.6
    ch = nested_logit(u_ws, u_imp, rho, u_outside=np.logaddexp(0.0, u_inf))
    iv = rho * np.log(np.exp(u_ws / rho).sum(axis=1))
    total = np.exp(iv) + np.exp(u_imp) + 1.0 + np.exp(u_inf)
    assert np.allclose(ch.dm, np.exp(iv) / total)
    assert np.allclose(ch.imported, np.exp(u_imp) / total)
    assert np.allclose(ch.none, (1.0 + np.exp(u_inf)) / total)
    assert np.allclose(ch.logsum, np.log(total))


def test_informal_goods_take_demand_from_dm_and_imports_and_money_balances():
    without = run(compose_config(SMALL)).timeseries
    cheap = run(compose_config([*SMALL, "products.farm_tools.informal_price_usd=6"])).timeseries
    cheaper = run(compose_config([*SMALL, "products.farm_tools.informal_price_usd=3"])).timeseries
    assert (without["informal_units"] == 0).all()
    assert (cheap["informal_units"] > 0).all() and cheaper["informal_units"].sum() > cheap["informal_units"].sum()
    assert cheap["import_units"].sum() < without["import_units"].sum()
    assert cheap["dm_units"].head(3).sum() < without["dm_units"].head(3).sum()  # before the paths diverge
    scale = cheap["potential_units"].mean() * 20
    assert (cheap["money_residual_usd"].abs() < 1e-9 * scale).all()


def test_institutions_never_buy_the_informal_good():
    model = DMModel(cfg=compose_config([*SMALL, "steps=2", "products.assistive_devices.informal_price_usd=10"]))
    terms = buyer_terms(model)
    p = model.product_names.index("assistive_devices")
    inst = terms.institution
    assert inst.any() and (terms.informal_share[inst, p] == 0).all() and (terms.informal_share[~inst, p] > 0).all()
    others = [q for q in range(model.n_products) if q != p]
    assert (terms.informal_share[:, others] == 0).all()
    assert np.allclose(terms.u_outside[:, others], 0.0)  # no informal good: not buying alone (utility 0)


def test_no_informal_good_by_default():
    cfg = compose_config([])
    assert all(prod.informal_price_usd is None for prod in cfg.products.values())
    with pytest.raises(Exception, match="informal_price_usd"):
        compose_config(["products.farm_tools.informal_price_usd=-1"])
