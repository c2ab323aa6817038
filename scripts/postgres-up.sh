#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster on 127.0.0.1 and prints its URL (the form `--database` takes).
# Usage: scripts/postgres-up.sh [DIR] [PORT]   DIR defaults to a new temporary directory, PORT to a free one.
# Stop it with scripts/postgres-down.sh DIR. Installs Debian's postgresql package when missing (as root).
# As root the server runs as the 'postgres' user, since PostgreSQL refuses to run as root.
# The test suite does not need this script (its fixture starts its own cluster); point it at this one with
# STRATUM_TEST_POSTGRES="$(scripts/postgres-up.sh)" to reuse a cluster across runs.
set -euo pipefail

dir="${1:-$(mktemp -d "${TMPDIR:-/tmp}/stratum-pg-XXXXXX")}"
port="${2:-}"

find_bin() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [[ -x "$d/initdb" && -x "$d/pg_ctl" ]] && { echo "$d"; return; }
  done
  command -v pg_ctl >/dev/null && dirname "$(command -v pg_ctl)"
}

bin="$(find_bin || true)"
if [[ -z "$bin" ]]; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >/dev/null
    bin="$(find_bin)"
  else
    echo "PostgreSQL is not installed: apt-get install postgresql (initdb and pg_ctl are needed)" >&2
    exit 1
  fi
fi

as_owner=()
if [[ $(id -u) -eq 0 ]]; then
  as_owner=(runuser -u postgres --)
  mkdir -p "$dir"
  chown postgres: "$dir"
  # The postgres user must be able to reach DIR: open the search bit on its parents (mktemp makes them 0700).
  p="$dir"; while [[ "$p" != / ]]; do p="$(dirname "$p")"; chmod o+x "$p" 2>/dev/null || true; done
fi

if [[ -z "$port" ]]; then
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 55432)"
fi

if [[ ! -s "$dir/data/PG_VERSION" ]]; then
  "${as_owner[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C >"$dir/initdb.log"
fi
if ! "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
  "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir" start >/dev/null
fi
# A running cluster keeps its port: read it back rather than trusting the argument.
port="$(sed -n 4p "$dir/data/postmaster.pid")"
"$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'stratum'" | grep -q 1 \
  || "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE stratum"
echo "postgres://postgres@127.0.0.1:$port/stratum"
