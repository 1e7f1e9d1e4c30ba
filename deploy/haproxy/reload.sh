#!/bin/sh
# Reload HAProxy (e.g. after editing deploy/haproxy.cfg) keeping what was set
# on the runtime API (canary weights, drain, maint):
#   docker compose exec haproxy sluice-haproxy-reload
# Saves `show servers state` to the server-state-file, then asks the master
# (PID 1) to reload; the new worker loads the file (load-server-state-from-file)
# and takes over the listening sockets (expose-fd listeners).
set -eu
SOCK=/var/lib/haproxy/admin.sock
STATE=/var/lib/haproxy/server-state
echo "show servers state" | socat stdio "unix-connect:${SOCK}" > "${STATE}.tmp"
mv "${STATE}.tmp" "${STATE}"
kill -USR2 1
echo "reloading with the state of $(grep -c '^[0-9]' "${STATE}") servers"
