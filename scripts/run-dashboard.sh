#!/usr/bin/env bash
# Run the dashboard on the bundled sample data (a SQLite file, kap_outcomes.db), on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
export KAP_OUTCOMES_DB=${KAP_OUTCOMES_DB:-sqlite:///kap_outcomes.db}
.venv/bin/kap-outcomes demo
exec .venv/bin/kap-outcomes serve --address "${KAP_OUTCOMES_ADDRESS:-localhost}" \
  --port "${KAP_OUTCOMES_PORT:-8501}"
