"""The command line as an attacker, a careless user and Hydra's own users drive it.

Each test is a finding of the review of the first version: it failed there and passes now.
"""

import json
import subprocess
import sys
import threading

import pytest

SMALL = ["steps=3", "region.buyer_groups=200", "output.dashboard=false", "output.quiet=true"]


def dmsim(cwd, *args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "dmsim", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def one_line_error(r, *words):
    assert r.returncode != 0, r.stdout
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def nothing_written(cwd):
    return not (cwd / "outputs").exists() and not (cwd / "multirun").exists()


# Hydra's own flags ------------------------------------------------------------------------------

@pytest.mark.parametrize("flags", [["--cfg", "job"], ["-c", "job"], ["--cfg", "hydra"], ["--info", "defaults"],
                                   ["--info"], ["--cfg", "job", "--package", "region"]])
def test_hydra_flags_work_and_write_nothing(tmp_path, flags):
    r = dmsim(tmp_path, "+scenario=shared_services", "steps=7", *flags)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip()
    assert nothing_written(tmp_path)


def test_two_hydra_modes_are_one_line(tmp_path):
    r = dmsim(tmp_path, "-m", "seed=0,1", "--cfg", "job")
    one_line_error(r, "--multirun", "--cfg", "only one of")
    assert nothing_written(tmp_path)


def test_cfg_job_prints_the_composed_job_config(tmp_path):
    r = dmsim(tmp_path, "--cfg", "job", "+scenario=shared_services", "steps=7")
    assert "steps: 7" in r.stdout and "scenario: shared_services" in r.stdout


def test_a_users_experiment_in_a_config_dir(tmp_path):
    mine = tmp_path / "myconf" / "experiment"
    mine.mkdir(parents=True)
    (mine / "mine.yaml").write_text("# @package _global_\ndefaults:\n  - /scenario: shared_services\n"
                                    "hydra:\n  sweeper:\n    params:\n      seed: 0,1\n")
    r = dmsim(tmp_path, "--config-dir", "myconf", "-m", "+experiment=mine", "hydra/launcher=basic", *SMALL)
    assert r.returncode == 0, r.stderr
    runs = sorted((tmp_path / "multirun" / "mine").glob("*/summary.json"))
    assert len(runs) == 2
    assert {json.loads(p.read_text())["scenario"] for p in runs} == {"shared_services"}


def test_shell_completion_is_hydras(tmp_path):
    r = dmsim(tmp_path, "--shell-completion", "install=bash")
    assert r.returncode == 0 and "hydra_bash_completion" in r.stdout


def test_optuna_sweeper_gets_the_objective_back(tmp_path):
    r = dmsim(tmp_path, "-m", "hydra/sweeper=optuna", "hydra/launcher=basic", "hydra.sweeper.n_trials=3",
              "hydra.sweeper.direction=maximize", "imports.tariff=interval(0,0.5)", "objective=dm_market_share_final",
              *SMALL)
    assert r.returncode == 0, r.stderr
    (sweep,) = (tmp_path / "multirun").iterdir()
    result = (sweep / "optimization_results.yaml").read_text()
    best = float(result.split("best_value:")[1].split()[0])
    shares = [json.loads(p.read_text())["dm_market_share_final"] for p in sweep.glob("*/summary.json")]
    assert len(shares) == 3 and best == pytest.approx(max(shares))


def test_interval_bounds_are_checked(tmp_path):
    r = dmsim(tmp_path, "-m", "hydra/sweeper=optuna", "network.coordination=interval(0,2)", *SMALL)
    one_line_error(r, "network.coordination", "allowed")
    assert nothing_written(tmp_path)


def test_task_function_returns_the_objective_also_when_resumed(tmp_path):
    from dmsim import __main__ as entry
    from dmsim.run import objective_value

    assert objective_value({"tipped": True, "x": None, "y": 2}, "tipped,y") == [1.0, 2.0]
    assert objective_value({"y": 2}, "y") == 2.0
    with pytest.raises(Exception, match="objective"):
        objective_value({"y": 2}, "nope")
    assert entry._hydra_main.__wrapped__.__annotations__["return"]  # a value, not None


# Bad and unsafe input -----------------------------------------------------------------------------

@pytest.mark.parametrize("args,words", [
    (["steps=24", "steps=30"], ["steps", "given once"]),
    (["+hydra.callbacks.x._target_=pathlib.Path.touch", "+hydra.callbacks.x.self=PWNED"], ["_target_"]),
    (["hydra.job.env_set.LD_PRELOAD=/tmp/x.so"], ["env_set"]),
    (["+hydra.launcher.setup=[touch PWNED]"], ["setup"]),
    (["hydra.runtime.output_dir=/tmp"], ["hydra.runtime.output_dir", "only Hydra's"]),
    (["hydra/callbacks=foo"], ["hydra/callbacks"]),
])
def test_refused_with_one_line_and_nothing_written(tmp_path, args, words):
    r = dmsim(tmp_path, *[a.replace("PWNED", str(tmp_path / "pwned")) for a in args], *SMALL[1:])
    one_line_error(r, *words)
    assert nothing_written(tmp_path) and not (tmp_path / "pwned").exists()


def test_a_scenario_file_cannot_run_code(tmp_path):
    scen = tmp_path / "c" / "scenario"
    scen.mkdir(parents=True)
    (scen / "evil.yaml").write_text("# @package _global_\nhydra:\n  callbacks:\n    x:\n"
                                    f"      _target_: pathlib.Path.touch\n      self: {tmp_path / 'pwned'}\n")
    (scen / "evil2.yaml").write_text("# @package _global_\nregion:\n  _target_: os.system\n")
    for name in ("evil", "evil2"):
        r = dmsim(tmp_path, "-cd", "c", f"+scenario={name}", *SMALL)
        one_line_error(r, "allowed")
    assert nothing_written(tmp_path) and not (tmp_path / "pwned").exists()


def test_interpolations_resolve_against_the_whole_config(tmp_path):
    r = dmsim(tmp_path, "steps=${seed}", "seed=4", "hydra.run.dir=run", *SMALL[1:])
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["months"] == 4
    r = dmsim(tmp_path, "steps=${seed}", "seed=0", "hydra.run.dir=run0", *SMALL[1:])
    one_line_error(r, "steps", "allowed")
    assert not (tmp_path / "run0").exists()


def test_a_strategy_without_budget_runs_on_its_planned_cost(tmp_path):
    r = dmsim(tmp_path, "+strategy=peer_network", "hydra.run.dir=run", *SMALL[1:])
    assert r.returncode == 0, r.stderr
    cfg = (tmp_path / "run" / "config.yaml").read_text()
    assert "budget_usd: 60000.0" in cfg  # 1,000 USD a month for 60 months
    r = dmsim(tmp_path, "+strategy=peer_network", "policy.budget_usd=1000", "hydra.run.dir=run2", *SMALL[1:])
    one_line_error(r, "policy.budget_usd", "60,000")
    assert not (tmp_path / "run2").exists()


def test_header_names_scenario_and_strategies(tmp_path):
    r = dmsim(tmp_path, "+scenario=shared_services", "+strategy=[peer_network,marketing_skills]",
              "hydra.run.dir=run", "steps=3", "region.buyer_groups=200", "output.dashboard=false")
    assert r.returncode == 0, r.stderr
    assert "dmsim shared_services + marketing_skills + peer_network" in r.stdout


def test_unwritable_output_is_one_line(tmp_path):
    r = dmsim(tmp_path, "hydra.run.dir=/proc/dmsim-cannot-write", *SMALL)
    one_line_error(r, "/proc", "write")


# Sweeps never mix configurations --------------------------------------------------------------------

def _sweep_with_own_scenario(tmp_path, cost, *extra):
    scen = tmp_path / "c" / "scenario"
    scen.mkdir(parents=True, exist_ok=True)
    (scen / "mine.yaml").write_text(f"# @package _global_\nscenario: mine\nservices:\n  design:\n"
                                    f"    internal_cost_usd_per_month: {cost}\n")
    return dmsim(tmp_path, "-cd", "c", "-m", "+scenario=baseline,mine", "seed=0,1", "hydra/launcher=basic",
                 "hydra.sweep.dir=multirun/s", *extra, *SMALL)


def test_an_edited_scenario_never_mixes_into_a_sweep(tmp_path):
    assert _sweep_with_own_scenario(tmp_path, 300.0).returncode == 0
    sweep = tmp_path / "multirun" / "s"
    before = {p: p.read_bytes() for p in sweep.rglob("summary.json")}
    assert len(before) == 4
    r = _sweep_with_own_scenario(tmp_path, 350.0)
    line = one_line_error(r, "multirun/s", "services.design.internal_cost_usd_per_month", "300.0", "350.0", "--force")
    assert "mine" in line
    assert {p: p.read_bytes() for p in sweep.rglob("summary.json")} == before  # nothing touched
    r = _sweep_with_own_scenario(tmp_path, 350.0, "--force")
    assert r.returncode == 0, r.stderr
    costs = {json.loads(p.read_text())["scenario"]: p.parent for p in sweep.rglob("summary.json")}
    for run in sweep.glob("*scenario=mine*"):
        assert "internal_cost_usd_per_month: 350.0" in (run / "config.yaml").read_text()
    assert costs  # every run finished again
    assert (sweep / "progress.log").read_text().count("# started") == 2  # appended, not wiped


def test_an_explicit_run_folder_is_not_overwritten(tmp_path):
    assert dmsim(tmp_path, "hydra.run.dir=run", "seed=1", *SMALL).returncode == 0
    summary = (tmp_path / "run" / "summary.json").read_bytes()
    r = dmsim(tmp_path, "hydra.run.dir=run", "seed=2", *SMALL)
    one_line_error(r, "run", "--force")
    assert (tmp_path / "run" / "summary.json").read_bytes() == summary
    assert dmsim(tmp_path, "hydra.run.dir=run", "seed=2", "--force", *SMALL).returncode == 0
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["seed"] == 2


def test_two_identical_sweeps_run_every_job_once(tmp_path):
    args = ["-m", "seed=0,1,2,3", "hydra/launcher=basic", "hydra.sweep.dir=multirun/same", "steps=12",
            "region.buyer_groups=300", "output.dashboard=false", "output.quiet=true"]
    results = []

    def go():
        results.append(dmsim(tmp_path, *args))

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    skipped = sum(r.stdout.count("skipped:") for r in results)
    assert skipped == 4  # 8 jobs asked, 4 run: each job ran in exactly one process
    assert len(list((tmp_path / "multirun" / "same").glob("*/summary.json"))) == 4
