#!/usr/bin/env bash
# Runs the benchmarks in Release and writes bench/results/*.json. Arguments go to the scenario program:
#   bench/run.sh                 all scenarios with defaults
#   bench/run.sh submit --jobs 20000 --concurrency 64 --repeats 5
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec dotnet run -c Release --project "$root/bench/Stratum.Benchmarks" -- "$@"
