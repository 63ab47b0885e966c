"""A shared provider survives exactly when its clients reach the analytic n* (docs/ODD.md §7.3).

Homogeneous case: identical workshops that cannot exit, enter or grow; every one starts as a
client of one certification provider, is aware of it, and reviews its sourcing monthly with
no switching threshold. Doing certification in-house is as good as the provider's
(``services.internal_effect=1``) and every workshop makes the products institutions buy only
certified (``product_variety=4``), so going without is never worth it: the choice is the fee
against the in-house cost. If the fee at n clients exceeds the in-house cost (n < n*), clients
leave and the provider runs out of cash; otherwise it keeps them.
"""

import pytest

from dmsim.costs import break_even_clients
from dmsim.run import run

F, M, F_INT, MARGIN = 9_000.0, 50.0, 440.0, 0.2
N_STAR = break_even_clients(F, M, F_INT, MARGIN)  # = 9000 / (440/1.2 - 50) = 28.4


def survives(make_config, n: int, extra: tuple[str, ...] = ()) -> bool:
    cfg = make_config([*extra,
        f"workshops.initial={n}", "steps=30", "seed=0", "services.internal_effect=1", "product_variety=4",
        "services.certification.seeded_providers=1", "services.certification.initial_mode=shared",
        f"services.certification.provider_fixed_cost_usd_per_month={F}",
        f"services.certification.provider_marginal_cost_usd_per_month={M}",
        f"services.certification.internal_cost_usd_per_month={F_INT}",
        f"services.provider_margin={MARGIN}",
        "services.switch_interval_months=1", "services.switch_probability=1.0",
        "services.switch_saving_threshold=0.0", "services.awareness_base_per_month=1.0",
        "services.provider_expectation_smoothing=1.0", "services.provider_entry_probability=0.0",
        "workshops.start_cash_months=1000", "workshops.exit_loss_months=1000",
        "workshops.exit_negative_cash_months=1000", "workshops.entry_prospects_per_million_per_month=0",
        "workshops.max_capacity_hours_per_month=480", "workshops.payout_cash_months=1000",
        "output.dashboard=false",
    ])
    model = run(cfg).model
    pv, ws = model.pv, model.ws
    assert (ws.mode[: ws.n, 0] != 0).all()  # nobody went without certification
    return bool(pv.active[0] and pv.clients[0] > 0)


def test_analytic_n_star():
    assert N_STAR == pytest.approx(9000 / (440 / 1.2 - 50))


def test_provider_breaks_even_at_analytic_n_star(make_config):
    ns = range(20, 38)
    alive = {n: survives(make_config, n) for n in ns}
    # Monotone: one threshold, below which providers fail and above which they survive.
    threshold = min(n for n in ns if alive[n])
    assert all(alive[n] for n in ns if n >= threshold)
    assert not any(alive[n] for n in ns if n < threshold)
    assert abs(threshold - N_STAR) <= 0.1 * N_STAR


def test_pooled_service_purchasing_lowers_n_star(make_config):
    """A coordinated network buys as one account: m falls to m·(1 − pooling·c), and so does n*."""
    pooled = ("network.type=mesh", "network.coordination=1.0", "network.service_pooling=0.5")
    n_star = break_even_clients(F, M * 0.5, F_INT, MARGIN)  # = 9000 / (440/1.2 - 25) = 26.3
    assert n_star < N_STAR - 2
    ns = range(22, 31)
    alive = {n: survives(make_config, n, pooled) for n in ns}
    threshold = min(n for n in ns if alive[n])
    assert all(alive[n] for n in ns if n >= threshold)
    assert abs(threshold - n_star) <= 0.1 * n_star
    # The same workshop count fails without pooling (independent workshops, n < 28.4).
    assert alive[threshold] and not survives(make_config, threshold)
