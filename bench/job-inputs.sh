#!/usr/bin/env bash
# A job's input checkout from the artifact store: the first job on a node (cold cache: every file fetched, decrypted,
# decompressed) and a second job reading the same commit (warm cache: hard links only), against `cp -r` of the same
# files and `stratum store get` in the same run. A job without inputs
# is run for comparison. The checkout times are the server's own (jobs/ID/store/attempt-1.json).
# Writes bench/results/job-inputs.json.
#   bench/job-inputs.sh [SIZE_MB=512] [FILES=64]
set -euo pipefail
size_mb="${1:-512}"
files="${2:-64}"
source "$(dirname "${BASH_SOURCE[0]}")/cli-server.sh"
bench_init job-inputs-bench
bench_files "$work/src" "$size_mb" "$files" mixed

t0=$(now); cp -r "$work/src" "$work/cp-copy"; sync; t1=$(now); cp_s=$(secs "$t0" "$t1")
rm -rf "$work/cp-copy"

bench_up
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
read -r cold_s cold_id <<<"$(run_job --input shards=data -- sh -c 'test -f data/part-1.bin')"
read -r warm_s warm_id <<<"$(run_job --input shards=data -- sh -c 'test -f data/part-1.bin')"
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
