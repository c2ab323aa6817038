#!/usr/bin/env bash
# `stratum store put` / `get` end to end (CLI -> REST -> chunking, SHA-256, zstd, AES-GCM -> disk) against
# `cp` of the same files on the same disk, in the same run. Writes bench/results/store-cli.json.
#   bench/store-cli.sh [SIZE_MB=512] [FILES=8]
set -euo pipefail
size_mb="${1:-512}"
files="${2:-8}"
source "$(dirname "${BASH_SOURCE[0]}")/cli-server.sh"
bench_init store-bench
bench_files "$work/src" "$size_mb" "$files" mixed

t0=$(now); cp -r "$work/src" "$work/cp-copy"; sync; t1=$(now); cp_s=$(secs "$t0" "$t1")
rm -rf "$work/cp-copy"

bench_up
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
