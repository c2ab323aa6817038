#!/usr/bin/env bash
# Whether a large input checkout holds up other jobs: a job without inputs is submitted while another job's cold
# checkout of SIZE_MB (random, so incompressible) is under way, and its submit-to-start time is compared with the same
# job's submit-to-start on the idle server, measured first in the same run. Times are the server's own
# (submittedAt and attempts[0].startedAt; the checkout's from jobs/ID/store/attempt-1.json), read over the REST API.
# Each job asks for half a core, so both fit on a 2-core machine (1.5 cores allocatable).
# Writes bench/results/job-data-phase.json.
#   bench/job-data-phase.sh [SIZE_MB=512] [FILES=64]
set -euo pipefail
size_mb="${1:-512}"
files="${2:-64}"
source "$(dirname "${BASH_SOURCE[0]}")/cli-server.sh"
bench_init job-data-phase
bench_files "$work/src" "$size_mb" "$files" random
bench_up
stratum store create shards --kind dataset >/dev/null
stratum store put shards "$work/src" -m bench >/dev/null 2>&1

mkdir -p "$root/bench/results"
python3 - "$work/data" "$root/bench/results/job-data-phase.json" "$size_mb" "$files" <<'PY'
import json, os, platform, sys, time, urllib.request
from datetime import datetime
data, out, size_mb, files = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
conn = json.load(open(os.path.join(data, "connection.json")))
def call(method, path, body=None):
    req = urllib.request.Request(conn["address"].rstrip("/") + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + conn["token"], "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)
def submit(inputs=None):
    body = {"command": ["true"], "resources": {"cpu": "500m", "memory": "256Mi"}}
    if inputs: body["inputs"] = inputs
    return call("POST", "/api/v1/jobs", body)["id"]
def wait(job_id, done, timeout=600):
    until = time.time() + timeout
    while time.time() < until:
        job = call("GET", f"/api/v1/jobs/{job_id}")
        if done(job): return job
        time.sleep(0.01)
    raise SystemExit(f"job {job_id} did not get there: {job['state']}: {job['reason']}")
ts = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
ended = lambda j: j["state"] in ("Succeeded", "Failed", "Cancelled")
def start_delay(job): return ts(job["attempts"][0]["startedAt"]) - ts(job["submittedAt"])

idle = [start_delay(wait(submit(), ended)) for _ in range(3)]
big = submit([{"repo": "shards", "mountAs": "data"}])
# Once the checkout reports files, so the quick job surely arrives in the middle of it.
seen = wait(big, lambda j: j["reason"].startswith("preparing inputs:") or ended(j))
quick = wait(submit(), ended)
record = os.path.join(data, "jobs", str(big), "store", "attempt-1.json")
quick_done = time.time()
still_preparing = not os.path.exists(record)
big_job = wait(big, ended)
if big_job["state"] != "Succeeded": raise SystemExit(f"the input job ended {big_job['state']}: {big_job['reason']}")
checkout = json.load(open(record))["inputs"][0]
r = {
  "benchmark": "submit-to-start of a job without inputs, on an idle server and while another job's cold input checkout runs",
  "command": f"bench/job-data-phase.sh {size_mb} {files}",
  "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
  "sizeMb": size_mb, "files": files,
  "idleStartSeconds": [round(x, 3) for x in idle],
  "duringCheckoutStartSeconds": round(start_delay(quick), 3),
  "quickJobEndedWhileCheckoutRan": still_preparing,
  "checkoutSeconds": checkout["seconds"], "checkoutFetchedBytes": checkout["fetchedBytes"],
  "progressSeenWhilePreparing": seen["reason"],
}
json.dump(r, open(out, "w"), indent=2); print(json.dumps(r, indent=2))
PY
