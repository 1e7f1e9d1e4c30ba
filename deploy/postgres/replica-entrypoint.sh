#!/usr/bin/env bash
# Streaming replica. First start: wait for the primary, clone it with
# `pg_basebackup -R -X stream` (writes standby.signal and primary_conninfo).
# Every start: run as a hot standby (read-only queries while replaying WAL).
set -euo pipefail
: "${PGDATA:=/var/lib/postgresql/data}"
: "${PRIMARY_HOST:=postgres}"

mkdir -p "$PGDATA"
chown postgres:postgres "$PGDATA"
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until gosu postgres pg_isready -q -h "$PRIMARY_HOST" -U postgres; do
    echo "waiting for primary $PRIMARY_HOST"
    sleep 1
  done
  gosu postgres pg_basebackup -h "$PRIMARY_HOST" -U postgres -D "$PGDATA" -R -X stream -c fast
fi
exec gosu postgres postgres -D "$PGDATA" -c hot_standby=on
