#!/usr/bin/env bash
# Install everything the test suite needs on a fresh machine, then run all of it:
# a PostgreSQL server (apt-get, started locally with a password role), Debian's Chromium for the
# browser tests, and the Python packages. Screenshots land in artifacts/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ -z "${KAP_TEST_PG_URL:-}" ] && [ "${KAP_TEST_SQLITE_ONLY:-}" != "1" ]; then
  KAP_TEST_PG_URL=$(bash scripts/postgres-for-tests.sh)
  export KAP_TEST_PG_URL
fi
# Debian's Chromium for the browser tests and chart/PDF exports (Playwright and Kaleido drive
# it; neither can download its own browser here), poppler-utils to check the PDF report's pages
if [ ! -x /usr/bin/chromium ] || ! command -v pdftoppm >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji \
    fonts-noto-core poppler-utils >/dev/null
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
