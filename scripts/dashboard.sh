#!/usr/bin/env bash
# Start the interactive dashboard at http://localhost:8765 (extra arguments go to `solara run`,
# e.g. --port 8766 or --host 0.0.0.0). Installs first if needed, and fetches Solara's front-end
# packages once from the npm registry into .venv, so the page never needs a CDN at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python scripts/solara_assets.py
export SOLARA_TELEMETRY_MIXPANEL_ENABLE=False  # solara reports usage by default
exec .venv/bin/solara run dmsim/dashboard.py --production "$@"
