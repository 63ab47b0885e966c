#!/usr/bin/env bash
# Re-run every committed experiment and refresh its tables and figures in experiments/.
# About 35 minutes on a 2-core machine. Run after any change to the model: the stable sweep
# directories in multirun/ are removed first, because a finished run is recognised by its
# configuration, not by the code that produced it.
#   bash scripts/experiments.sh                 # all
#   bash scripts/experiments.sh tipping_point   # some, by name
set -euo pipefail
cd "$(dirname "$0")/.."
py=${DMSIM_PY:-.venv/bin/python}  # DMSIM_PY: another interpreter with dmsim installed
all=(calibration scenario_comparison tipping_point coordination_threshold hysteresis strategy_ranking
     sensitivity discovery)
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
    calibration) $py experiments/calibration/run.py ;;
    scenario_comparison | tipping_point | hysteresis) sweep "$name" ;;
    coordination_threshold)
      sweep "$name"
      rm -rf multirun/coordination_no_pooling  # the workshop channel alone (README)
      $py -m dmsim -m +experiment=coordination_threshold network.service_pooling=0 workshops.initial=8,9,10 \
        network.coordination=1 hydra.sweep.dir=multirun/coordination_no_pooling ;;
    strategy_ranking) sweep "$name" --reference none ;;
    sensitivity)
      rm -rf multirun/sensitivity multirun/sensitivity_morris
      $py -m dmsim -m +experiment=sensitivity
      $py -m dmsim.sensitivity analyse multirun/sensitivity --method sobol --out experiments/sensitivity/sobol
      $py -m dmsim -m +experiment=sensitivity hydra.sweep.dir=multirun/sensitivity_morris \
        sample.file=experiments/sensitivity/sample_morris.parquet "sample.index=range(0,240)"
      $py -m dmsim.sensitivity analyse multirun/sensitivity_morris --method morris \
        --out experiments/sensitivity/morris ;;
    discovery)
      d=experiments/scenario_discovery
      rm -rf multirun/discovery
      $py -m dmsim -m +experiment=discovery
      $py -m dmsim.sensitivity analyse multirun/discovery --out "$d"
      $py -m dmsim.discovery multirun/discovery --out "$d"
      $py -m dmsim.discovery multirun/discovery --out "$d/derived" \
        --derive 'initial_over_nstar=`workshops.initial` / (9.18 * `services.provider_fixed_cost_scale`)'
      $py -m dmsim.discovery multirun/discovery --invert --out "$d/not_tipped" ;;
    *) echo "experiments.sh: unknown experiment '$name'; known: ${all[*]}" >&2; exit 2 ;;
  esac
done
