#!/usr/bin/env bash
# The long version of the end-to-end proof (test/e2e/): the same runs as CI's, with the faults made
# longer and more frequent, repeated. Each run stays bounded in time; the servers are the test
# servers (installed and started as for npm test). Settings, with their CI values in brackets:
#   EW_E2E_ROUNDS        rounds of every run                          3   [1]
#   EW_E2E_KILLS         processor SIGKILLs in the first run          10  [2]
#   EW_E2E_OUTAGE_S      seconds the broker is away (uplink cut)      60  [6]
#   EW_E2E_KAFKA_DOWN_S  seconds Kafka is away in the raw run         60  [8]
#   EW_E2E_FUZZ_FRAMES   bad frames through the running pipeline      5000000 [1000000]
# Usage: bash scripts/e2e-long.sh   (or npm run test:e2e:long)
set -euo pipefail
cd "$(dirname "$0")/.."
export EW_E2E_KILLS="${EW_E2E_KILLS:-10}"
export EW_E2E_OUTAGE_S="${EW_E2E_OUTAGE_S:-60}"
export EW_E2E_KAFKA_DOWN_S="${EW_E2E_KAFKA_DOWN_S:-60}"
export EW_E2E_FUZZ_FRAMES="${EW_E2E_FUZZ_FRAMES:-5000000}"
rounds="${EW_E2E_ROUNDS:-3}"
bash scripts/install-servers.sh
npm run --silent build
for round in $(seq 1 "$rounds"); do
  echo "[e2e-long] round $round of $rounds: kills $EW_E2E_KILLS, outage ${EW_E2E_OUTAGE_S} s, Kafka away ${EW_E2E_KAFKA_DOWN_S} s, $EW_E2E_FUZZ_FRAMES bad frames"
  # One file at a time: the runs measure the pipeline, not each other.
  npx vitest run --project integration --no-file-parallelism test/e2e/
done
echo "[e2e-long] $rounds rounds passed"
