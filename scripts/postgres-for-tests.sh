#!/usr/bin/env bash
# Install (if needed) and start a local PostgreSQL server with a password role for the tests.
# Prints the URL to use as KAP_TEST_PG_URL. Needs root (apt-get, pg_ctlcluster).
set -euo pipefail
if ! command -v pg_lsclusters >/dev/null 2>&1; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
version=$(pg_lsclusters -h | awk 'NR==1 {print $1}')
if [ -z "$version" ]; then
  version=$(ls /usr/lib/postgresql | sort -n | tail -1)
  pg_createcluster "$version" main >&2
fi
pg_ctlcluster "$version" main start >&2 2>/dev/null || true
for _ in $(seq 1 30); do
  pg_isready -q -h localhost && break
  sleep 0.5
done
psql_su() { su postgres -c "psql -v ON_ERROR_STOP=1 -qAt -c \"$1\""; }
if [ "$(psql_su "SELECT 1 FROM pg_roles WHERE rolname='kap_test'")" != "1" ]; then
  psql_su "CREATE ROLE kap_test LOGIN PASSWORD 'kap_test'" >&2
fi
if [ "$(psql_su "SELECT 1 FROM pg_database WHERE datname='kap_test'")" != "1" ]; then
  psql_su "CREATE DATABASE kap_test OWNER kap_test" >&2
fi
echo "postgresql+psycopg://kap_test:kap_test@localhost:5432/kap_test"
