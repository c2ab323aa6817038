# Shared by the bench scripts that drive a real `stratum up` through the CLI (job-inputs.sh, job-data-phase.sh,
# store-cli.sh). Source it after `set -euo pipefail`; it defines:
#   bench_init NAME          a work directory ($work, removed on exit with the server it started), the CLI build
#                            ($bin; STRATUM_BIN: a Release build of src/Stratum.Cli to use instead of building one)
#                            and `stratum ...` against $work/data
#   bench_files DIR MB N KIND N files of MB/N MiB in all: KIND "random" (incompressible, like weights) or "mixed"
#                            (half random, half text-like and compressible, like tokenised shards or logs)
#   bench_up                 starts `stratum up` on $work/data and waits for it to write its connection file
#   now, secs T0 T1          wall clock, and seconds between two readings
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
server_pid=""

bench_cleanup() {
  # SIGTERM, not SIGINT: a script's background job starts with SIGINT ignored, and the scripts this replaces
  # waited for a server that never heard their Ctrl-C (the server shuts down cleanly on either).
  if [[ -n "$server_pid" ]]; then kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  # Job inputs are checked out read-only.
  chmod -R u+w "$work" 2>/dev/null || true
  rm -rf "$work"
}

bench_init() {
  work="$(mktemp -d "${TMPDIR:-/tmp}/stratum-$1.XXXXXX")"
  trap bench_cleanup EXIT
  bin="${STRATUM_BIN:-$work/bin}"
  [[ -n "${STRATUM_BIN:-}" ]] || dotnet build -c Release "$root/src/Stratum.Cli" -v q -clp:ErrorsOnly -o "$bin" >&2
}

stratum() { STRATUM_DATA="$work/data" dotnet "$bin/stratum.dll" "$@"; }

bench_files() {
  local dir="$1" size_mb="$2" files="$3" kind="$4" per_kb i
  mkdir -p "$dir"
  per_kb=$((size_mb * 1024 / files))
  for i in $(seq 1 "$files"); do
    if [[ "$kind" == random ]] || (( i % 2 )); then head -c "$((per_kb * 1024))" /dev/urandom > "$dir/part-$i.bin"
    else python3 -c "import sys; line=b'id=$i step=$i loss=0.123456 text=the quick brown fox jumps over the lazy dog\\n'; n=$((per_kb * 1024)); sys.stdout.buffer.write((line * (n // len(line) + 1))[:n])" > "$dir/part-$i.txt"; fi
  done
  sync
}

bench_up() {
  mkdir -p "$work/data"
  STRATUM_DATA="$work/data" dotnet "$bin/stratum.dll" up --port 0 >"$work/up.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 120); do [[ -f "$work/data/connection.json" ]] && return 0; sleep 0.5; done
  echo "stratum up did not start in 60 s; its log:" >&2
  cat "$work/up.log" >&2
  return 1
}

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l; }
