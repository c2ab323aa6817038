#!/usr/bin/env bash
# `stratum store put` / `get` end to end (CLI -> REST -> chunking, SHA-256, zstd, AES-GCM -> disk) against
# `cp` of the same files on the same disk, in the same run. Writes bench/results/store-cli.json.
#   bench/store-cli.sh [SIZE_MB=512] [FILES=8]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
size_mb="${1:-512}"
files="${2:-8}"
work="$(mktemp -d "${TMPDIR:-/tmp}/stratum-store-bench.XXXXXX")"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then kill -INT "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# STRATUM_BIN: a Release build of src/Stratum.Cli to use instead of building one here.
bin="${STRATUM_BIN:-$work/bin}"
[[ -n "${STRATUM_BIN:-}" ]] || dotnet build -c Release "$root/src/Stratum.Cli" -v q -clp:ErrorsOnly -o "$bin" >&2
stratum() { STRATUM_DATA="$work/data" dotnet "$bin/stratum.dll" "$@"; }

# Half random (checkpoint-like, incompressible), half text-like (compressible): what AI artifacts look like.
mkdir -p "$work/src"
per=$((size_mb / files))
for i in $(seq 1 "$files"); do
  if (( i % 2 )); then head -c "$((per * 1024 * 1024))" /dev/urandom > "$work/src/part-$i.bin"
  else python3 -c "import sys; line=b'step=$i loss=0.123456 accuracy=0.987654 tokens=1048576\\n'; n=$((per * 1024 * 1024)); sys.stdout.buffer.write((line * (n // len(line) + 1))[:n])" > "$work/src/part-$i.txt"; fi
done
sync

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l; }

t0=$(now); cp -r "$work/src" "$work/cp-copy"; sync; t1=$(now); cp_s=$(secs "$t0" "$t1")
rm -rf "$work/cp-copy"

mkdir -p "$work/data"
STRATUM_DATA="$work/data" dotnet "$bin/stratum.dll" up --port 0 >"$work/up.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 120); do [[ -f "$work/data/connection.json" ]] && break; sleep 0.5; done
stratum store create bench --kind dataset >/dev/null

t0=$(now); stratum store put bench "$work/src" -m bench >/dev/null 2>&1; sync; t1=$(now); put_s=$(secs "$t0" "$t1")
t0=$(now); stratum store get bench@main "$work/back" >/dev/null 2>&1; sync; t1=$(now); get_s=$(secs "$t0" "$t1")
diff -r "$work/src" "$work/back" >/dev/null
du_json="$(stratum store du bench --output json)"
logical=$(echo "$du_json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["logicalBytes"])')
stored=$(echo "$du_json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["storedBytes"])')

mbps() { echo "$size_mb / $1" | bc -l; }
mkdir -p "$root/bench/results"
python3 - "$root/bench/results/store-cli.json" <<PY
import json, sys, platform, os
r = {
  "benchmark": "stratum store put/get through the CLI and REST vs cp, same disk, same run",
  "command": "bench/store-cli.sh $size_mb $files",
  "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
  "sizeMb": $size_mb, "files": $files,
  "cpSeconds": round($cp_s, 3), "putSeconds": round($put_s, 3), "getSeconds": round($get_s, 3),
  "cpMBps": round($(mbps "$cp_s"), 1), "putMBps": round($(mbps "$put_s"), 1), "getMBps": round($(mbps "$get_s"), 1),
  "putVsCp": round($cp_s / $put_s, 3), "getVsCp": round($cp_s / $get_s, 3),
  "logicalBytes": $logical, "storedBytes": $stored,
}
json.dump(r, open(sys.argv[1], "w"), indent=2); print(json.dumps(r, indent=2))
PY
