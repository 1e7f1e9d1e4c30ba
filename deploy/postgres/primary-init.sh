#!/usr/bin/env bash
# Runs once, on the primary's first start (docker-entrypoint-initdb.d): let the
# replica stream WAL. "all" in pg_hba does not match replication connections,
# so they need their own line. Trust is for the compose network only: the
# primary's port is not published.
set -euo pipefail
echo "host replication all all trust" >> "$PGDATA/pg_hba.conf"
