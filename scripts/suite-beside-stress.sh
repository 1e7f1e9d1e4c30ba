#!/usr/bin/env bash
# The whole test suite N times in a row (default 3) while `stress-ng --cpu 2`
# keeps both cores busy (issue #11: a starved writer must not lose order or
# locks). Stops at the first failing run; logs in ${LOGS:-/tmp}/suite-stress-K.log.
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
logs=${LOGS:-/tmp}
command -v stress-ng >/dev/null || { echo "stress-ng is missing (Debian: apt-get install stress-ng)"; exit 2; }
for k in $(seq 1 "$runs"); do
  stress-ng --cpu 2 --timeout 0 >/dev/null 2>&1 &
  hog=$!
  start=$(date +%s)
  pnpm vitest run > "$logs/suite-stress-$k.log" 2>&1
  rc=$?
  kill "$hog"; wait "$hog" 2>/dev/null
  echo "run $k: exit $rc after $(( $(date +%s) - start )) s ($logs/suite-stress-$k.log)"
  [ "$rc" -eq 0 ] || exit "$rc"
done
