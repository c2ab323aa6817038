#!/usr/bin/env bash
# Stops a cluster started by scripts/postgres-up.sh and removes its directory.
# Usage: scripts/postgres-down.sh DIR [--keep]   (--keep leaves the data in place)
set -euo pipefail
dir="${1:?usage: $0 DIR [--keep]}"
[[ -d "$dir/data" ]] || { echo "$dir holds no PostgreSQL cluster" >&2; exit 1; }
pg_ctl="$(ls -d /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -1)"
pg_ctl="${pg_ctl:-$(command -v pg_ctl)}"
as_owner=()
[[ $(id -u) -eq 0 ]] && as_owner=(runuser -u postgres --)
"${as_owner[@]}" "$pg_ctl" -D "$dir/data" status >/dev/null 2>&1 && "${as_owner[@]}" "$pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
[[ "${2:-}" == "--keep" ]] || rm -rf "$dir"
