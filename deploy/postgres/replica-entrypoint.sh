#!/usr/bin/env bash
# Streaming replica on a physical replication slot of the primary.
#
# The slot makes the primary keep the WAL this replica has not received yet,
# so a replica that was down for a while catches up instead of failing with
# "requested WAL segment has already been removed" (the primary caps what a
# slot may hold with max_slot_wal_keep_size; past that the slot is "lost").
#
# Every start decides whether the data dir can follow the primary, and
# re-clones it (pg_basebackup -R -S <slot>) when it cannot:
#   - no data dir yet, or a clone that was interrupted;
#   - the primary is another cluster (its system identifier differs: it was
#     re-initialised or restored);
#   - the slot is missing or lost (the WAL this replica needs is gone).
# The clone goes to a temporary dir and replaces the old one only once
# complete. Then: hot standby (read-only queries while replaying WAL).
set -euo pipefail
: "${PGDATA:=/var/lib/postgresql/data/pgdata}"
: "${PRIMARY_HOST:=postgres}"
: "${REPLICATION_SLOT:=sluice_replica}"

as_pg() { gosu postgres "$@"; }
primary_sql() { as_pg psql -h "$PRIMARY_HOST" -U postgres -d postgres -XAtq -v ON_ERROR_STOP=1 -c "$1"; }

parent=$(dirname "$PGDATA")
mkdir -p "$parent"
chown postgres:postgres "$parent"
chmod 700 "$parent"

until as_pg pg_isready -q -h "$PRIMARY_HOST" -U postgres; do
  echo "replica: waiting for primary ${PRIMARY_HOST}"
  sleep 1
done

reason=""
slot_status=$(primary_sql "SELECT coalesce(wal_status, 'reserved') FROM pg_replication_slots WHERE slot_name = '${REPLICATION_SLOT}'")
if [ ! -s "$PGDATA/PG_VERSION" ] || [ ! -f "$PGDATA/standby.signal" ]; then
  reason="no complete data dir"
elif [ "$(as_pg pg_controldata "$PGDATA" | awk -F': *' '/Database system identifier/ {print $2}')" != \
       "$(primary_sql 'SELECT system_identifier FROM pg_control_system()')" ]; then
  reason="the primary is another cluster (system identifier differs)"
elif [ -z "$slot_status" ] || [ "$slot_status" = "lost" ]; then
  reason="replication slot ${REPLICATION_SLOT} is ${slot_status:-missing} on the primary"
fi

if [ -n "$reason" ]; then
  echo "replica: cloning the primary: ${reason}"
  if [ "$slot_status" = "lost" ]; then
    primary_sql "SELECT pg_drop_replication_slot('${REPLICATION_SLOT}')" >/dev/null
    slot_status=""
  fi
  create_slot=()
  [ -z "$slot_status" ] && create_slot=(--create-slot)
  tmp="${parent}/clone.tmp"
  rm -rf "$tmp"
  as_pg pg_basebackup -h "$PRIMARY_HOST" -U postgres -D "$tmp" -R -X stream -c fast -S "$REPLICATION_SLOT" "${create_slot[@]}"
  rm -rf "$PGDATA"
  mv "$tmp" "$PGDATA"
  echo "replica: clone complete"
fi
exec gosu postgres postgres -D "$PGDATA" -c hot_standby=on
