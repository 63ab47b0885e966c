"""The report's core finding, over paired seeds (common random numbers): moving services to
ecosystem level lowers unit cost and overhead share and raises shared sourcing and DM share."""

import numpy as np
import pytest

from dmsim.run import run

SEEDS = range(10)


@pytest.fixture(scope="module")
def paired(request):
    from dmsim.run import compose_config

    out = {}
    for scenario in ("baseline", "shared_services"):
        out[scenario] = [
            run(compose_config([f"+scenario={scenario}", f"seed={s}", "output.dashboard=false"])).summary
            for s in SEEDS
        ]
    return out


@pytest.mark.parametrize("key,direction", [
    ("mean_unit_cost_usd_final", -1),
    ("overhead_share_final", -1),
    ("shared_service_share_final", +1),
    ("dm_market_share_final", +1),
])
def test_shared_services_beats_baseline(paired, key, direction):
    base = np.array([s[key] for s in paired["baseline"]])
    shared = np.array([s[key] for s in paired["shared_services"]])
    diff = direction * (shared - base)
    assert diff.mean() > 0
    assert (diff > 0).sum() >= 9  # nearly every pair, not just on average
    # Paired t statistic: the effect is large against the seed-to-seed noise.
    assert diff.mean() / (diff.std(ddof=1) / np.sqrt(len(diff)) + 1e-12) > 3


def test_baseline_stays_trapped_shared_services_tips(paired):
    assert sum(s["tipped"] for s in paired["baseline"]) <= 1
    assert sum(s["tipped"] for s in paired["shared_services"]) >= 9
    assert np.mean([s["workshops_active_final"] for s in paired["shared_services"]]) > 2 * np.mean(
        [s["workshops_active_final"] for s in paired["baseline"]])


def test_the_market_clears_and_tipping_is_never_the_set_up(paired):
    """Buyers get (nearly) what they order from DM workshops in the final year, and a scenario
    that starts with providers is tipped only once they have paid their way for a year."""
    for runs in paired.values():
        assert np.mean([s["dm_fill_rate_final"] for s in runs]) >= 0.8
        assert all(s["tipping_month"] is None or s["tipping_month"] >= 11 for s in runs)
        assert all(s["tipped"] == (s["tipping_month"] is not None) for s in runs)


def test_a_dense_start_grows_its_own_providers_a_thin_one_does_not():
    """No provider is seeded in either: 240 workshops at month 0 attract providers that still pay
    their way at month 120 in most seeds (8 of 10 in experiments/tipping_point); the default 20
    never do."""
    from dmsim.run import compose_config

    def ends(n0):
        out = [run(compose_config([f"workshops.initial={n0}", f"seed={s}", "output.dashboard=false"]))
               for s in range(6)]
        return np.array([r.timeseries["providers_local_active"].iloc[-1] for r in out]), \
            np.array([r.summary["tipped"] for r in out])

    dense_providers, dense_tipped = ends(240)
    thin_providers, thin_tipped = ends(20)
    assert (dense_providers > 0).sum() >= 4 and dense_tipped.sum() >= 4
    assert (thin_providers == 0).all() and not thin_tipped.any()
