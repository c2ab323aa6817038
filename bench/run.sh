#!/usr/bin/env bash
# Runs the benchmarks in Release and writes bench/results/*.json. Arguments go to the scenario program:
#   bench/run.sh                 all scenarios with defaults
#   bench/run.sh submit --jobs 20000 --concurrency 64 --repeats 5
#   bench/run.sh schedule [--repeats 5]                  scheduling pass (bench/Stratum.Scheduling.Benchmarks)
#   bench/run.sh storage [--size-mb 2048] [--repeats 3]   artifact store (bench/Stratum.Storage.Benchmarks)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ "${1:-}" == "schedule" ]]; then
  shift
  exec dotnet run -c Release --project "$root/bench/Stratum.Scheduling.Benchmarks" -- "$@"
fi
if [[ "${1:-}" == "storage" ]]; then
  shift
  exec dotnet run -c Release --project "$root/bench/Stratum.Storage.Benchmarks" -- "$@"
fi
exec dotnet run -c Release --project "$root/bench/Stratum.Benchmarks" -- "$@"
