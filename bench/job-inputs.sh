#!/usr/bin/env bash
# A job's input checkout from the artifact store: the first job on a node (cold cache: every file fetched, decrypted,
# decompressed) and a second job reading the same commit (warm cache: hard links only), against `cp -r` of the same
# files and `stratum store get` in the same run. A job without inputs
# is run for comparison. The checkout times are the server's own (jobs/ID/store/attempt-1.json).
# Writes bench/results/job-inputs.json.
#   bench/job-inputs.sh [SIZE_MB=512] [FILES=64]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
size_mb="${1:-512}"
files="${2:-64}"
work="$(mktemp -d "${TMPDIR:-/tmp}/stratum-job-inputs-bench.XXXXXX")"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then kill -INT "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  chmod -R u+w "$work" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# STRATUM_BIN: a Release build of src/Stratum.Cli to use instead of building one here.
bin="${STRATUM_BIN:-$work/bin}"
[[ -n "${STRATUM_BIN:-}" ]] || dotnet build -c Release "$root/src/Stratum.Cli" -v q -clp:ErrorsOnly -o "$bin" >&2
stratum() { STRATUM_DATA="$work/data" dotnet "$bin/stratum.dll" "$@"; }

# Half random (incompressible, like weights), half text-like (compressible, like tokenised shards).
mkdir -p "$work/src"
per_kb=$((size_mb * 1024 / files))
for i in $(seq 1 "$files"); do
  if (( i % 2 )); then head -c "$((per_kb * 1024))" /dev/urandom > "$work/src/shard-$i.bin"
  else python3 -c "import sys; line=b'id=$i text=the quick brown fox jumps over the lazy dog tokens=1048576\\n'; n=$((per_kb * 1024)); sys.stdout.buffer.write((line * (n // len(line) + 1))[:n])" > "$work/src/shard-$i.txt"; fi
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
stratum store create shards --kind dataset >/dev/null
stratum store put shards "$work/src" -m bench >/dev/null 2>&1
t0=$(now); stratum store get shards@main "$work/get-copy" >/dev/null 2>&1; sync; t1=$(now); get_s=$(secs "$t0" "$t1")
rm -rf "$work/get-copy"

job_id() { python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
run_job() {   # prints the seconds from submit to the end of `jobs wait`, then the job id
  local t0 t1 id
  t0=$(now)
  id=$(stratum jobs submit --output json "$@" | job_id)
  stratum jobs wait "$id" --timeout 10m >/dev/null
  t1=$(now)
  echo "$(secs "$t0" "$t1") $id"
}
# What the server measured around the checkout itself (jobs/ID/store/attempt-1.json): no CLI start-up or polling in it.
prepared() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); i=r["inputs"][0]; print(i["seconds"], i["fetchedBytes"], i["files"])' "$work/data/jobs/$1/store/attempt-1.json"; }

read -r none_s _ <<<"$(run_job -- true)"
read -r cold_s cold_id <<<"$(run_job --input shards=data -- sh -c 'test -f data/shard-1.bin')"
read -r warm_s warm_id <<<"$(run_job --input shards=data -- sh -c 'test -f data/shard-1.bin')"
read -r cold_checkout cold_fetched cold_files <<<"$(prepared "$cold_id")"
read -r warm_checkout warm_fetched warm_files <<<"$(prepared "$warm_id")"
[[ "$cold_files" == "$files" && "$warm_files" == "$files" ]] || { echo "expected $files files in each checkout, got $cold_files and $warm_files" >&2; exit 1; }

mkdir -p "$root/bench/results"
python3 - "$root/bench/results/job-inputs.json" <<PY
import json, sys, platform, os
cold = $cold_checkout; warm = $warm_checkout
r = {
  "benchmark": "job input checkout from the store (cold and warm node cache) vs cp -r and store get, same disk, same run",
  "command": "bench/job-inputs.sh $size_mb $files",
  "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
  "sizeMb": $size_mb, "files": $files,
  "cpSeconds": round($cp_s, 3), "storeGetSeconds": round($get_s, 3),
  "coldCheckoutSeconds": round(cold, 3), "warmCheckoutSeconds": round(warm, 3),
  "coldFetchedBytes": $cold_fetched, "warmFetchedBytes": $warm_fetched,
  "cpMBps": round($size_mb / $cp_s, 1), "storeGetMBps": round($size_mb / $get_s, 1),
  "coldCheckoutMBps": round($size_mb / cold, 1), "warmCheckoutMBps": round($size_mb / max(warm, 0.0001), 1),
  "coldCheckoutVsCp": round($cp_s / cold, 3), "warmCheckoutVsCp": round($cp_s / max(warm, 0.0001), 3),
  "submitToEndSeconds": {"noInputs": round($none_s, 3), "coldInputs": round($cold_s, 3), "warmInputs": round($warm_s, 3),
                         "note": "CLI start-up twice and jobs wait polling included; on a loaded machine they dominate"},
}
json.dump(r, open(sys.argv[1], "w"), indent=2); print(json.dumps(r, indent=2))
PY
