#!/usr/bin/env bash
# Run the dashboard on the bundled sample data (SQLite), on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
exec .venv/bin/python -m streamlit run streamlit_app.py --server.headless true \
  --server.address "${KAP_OUTCOMES_ADDRESS:-localhost}" --server.port "${KAP_OUTCOMES_PORT:-8501}" \
  --browser.gatherUsageStats false "$@"
