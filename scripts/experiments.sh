#!/usr/bin/env bash
# Re-run every committed experiment and refresh its tables and figures in experiments/.
# About 95 minutes on a 2-core machine: about 50 for the two-stage sensitivity analysis (1,504
# runs, two at a time, ~34 a minute), 18 for calibration with its pattern search, 8 for discovery
# (256 runs), 3 each for resilience and contexts. Run after any change to the model: the stable
# sweep directories in multirun/ are removed first (a sweep folder refuses to resume runs of
# other model code: dmsim-sweep.json).
#   bash scripts/experiments.sh                 # all
#   bash scripts/experiments.sh tipping_point   # some, by name
set -euo pipefail
cd "$(dirname "$0")/.."
py=${DMSIM_PY:-.venv/bin/python}  # DMSIM_PY: another interpreter with dmsim installed
all=(calibration scenario_comparison tipping_point coordination_threshold hysteresis strategy_ranking
     sensitivity discovery resilience contexts)
names=("${@:-${all[@]}}")

sweep() {  # sweep NAME [compare args...]: run +experiment=NAME afresh, compare into experiments/NAME
  local name=$1; shift
  rm -rf "multirun/$name"
  $py -m dmsim -m "+experiment=$name"
  $py -m dmsim.compare "multirun/$name" --out "experiments/$name" "$@"
}

for name in "${names[@]}"; do
  echo "== $name ($(date +%T))" >&2
  case $name in
    calibration)  # the calibration check, then calibration to patterns (experiments/calibration/README.md)
      c=experiments/calibration
      $py "$c/run.py"
      $py "$c/patterns.py" defaults  # 10 seeds x {baseline, shared_services}
      # sampled search: 48 LHS rows of the 10 decisive parameters x seeds 0,1 x both scenarios = 192 runs
      rm -rf multirun/calibration_search multirun/calibration_search_shared
      $py -m dmsim.sensitivity sample --method lhs --n 48 --out "$c/sample_lhs.parquet" \
        --keys services.provider_fixed_cost_scale,services.internal_cost_scale,services.internal_effect,market.nest_rho,workshops.capacity_hours_per_month,scales.demand,scales.valuation,scales.labour_hours,scales.material,learning.progress_ratio
      for sc in baseline shared_services; do
        $py -m dmsim -m +experiment=sensitivity scenario=$sc network.type=independent output.agent_snapshots=true \
          sample.file="$c/sample_lhs.parquet" "sample.index=range(0,48)" seed=0,1 \
          hydra.sweep.dir=multirun/calibration_search$([ $sc = baseline ] || echo _shared)
      done
      $py "$c/patterns.py" search multirun/calibration_search multirun/calibration_search_shared ;;
    scenario_comparison | tipping_point | hysteresis | contexts) sweep "$name" ;;
    coordination_threshold)
      sweep "$name"
      rm -rf multirun/coordination_no_pooling  # the workshop channel alone (README)
      $py -m dmsim -m +experiment=coordination_threshold network.service_pooling=0 workshops.initial=12,14,16 \
        network.coordination=1 hydra.sweep.dir=multirun/coordination_no_pooling ;;
    strategy_ranking) sweep "$name" --reference none ;;
    resilience)  # 210 runs (~2 min), compare, then the paired crisis analysis (experiments/resilience/README.md)
      sweep "$name"
      $py experiments/resilience/analyse.py multirun/resilience --out experiments/resilience ;;
    sensitivity)  # two stages (configs/experiment/sensitivity.yaml); samples redrawn with the default sampler seed
      s=experiments/sensitivity
      rm -rf multirun/sensitivity multirun/sensitivity_morris multirun/sensitivity_sobol
      # 1. Morris screening of all 27 parameters: 20 x (27 + 1) = 560 rows x 2 seeds = 1120 runs
      $py -m dmsim.sensitivity sample --method morris --out "$s/sample_morris.parquet"
      $py -m dmsim -m +experiment=sensitivity sample.file="$s/sample_morris.parquet" "sample.index=range(0,560)"
      $py -m dmsim.sensitivity analyse multirun/sensitivity --method morris --out "$s/morris"
      # 2. Sobol' on the 10 with the largest mu*: 16 x (10 + 2) = 192 rows x 2 seeds = 384 runs
      $py -m dmsim.sensitivity sample --method sobol --n 16 --top 10 --from "$s/morris" --out "$s/sample_sobol.parquet"
      $py -m dmsim -m +experiment=sensitivity hydra.sweep.dir=multirun/sensitivity_sobol \
        sample.file="$s/sample_sobol.parquet" "sample.index=range(0,192)"
      $py -m dmsim.sensitivity analyse multirun/sensitivity_sobol --method sobol --out "$s/sobol" ;;
    discovery)  # 256 LHS rows of the same 27 parameters, one seed each
      d=experiments/scenario_discovery
      rm -rf multirun/discovery
      $py -m dmsim.sensitivity sample --method lhs --out "$d/sample_lhs.parquet"
      $py -m dmsim -m +experiment=discovery
      $py -m dmsim.sensitivity analyse multirun/discovery --out "$d"
      $py -m dmsim.discovery multirun/discovery --out "$d"
      # Initial workshops over the analytic provider break-even n* in standard workshops (the same
      # for all seven services): n* = 9.75 F_scale / (f_scale / 1.2 - 0.125 (1 - 0.5 coordination)),
      # F = 9.75 f and m = 0.125 f (dmsim/config.py), provider margin 0.2, mesh pooling 0.5; 13.8 at scale 1.
      $py -m dmsim.discovery multirun/discovery --out "$d/derived" \
        --derive 'initial_over_nstar=`workshops.initial` * (`services.internal_cost_scale` / 1.2 - 0.125 * (1 - 0.5 * `network.coordination`)) / (9.75 * `services.provider_fixed_cost_scale`)'
      $py -m dmsim.discovery multirun/discovery --invert --out "$d/not_tipped" ;;
    *) echo "experiments.sh: unknown experiment '$name'; known: ${all[*]}" >&2; exit 2 ;;
  esac
done
