#!/usr/bin/env bash
# `npm test`: installs the test servers if needed (cached), type-checks, and runs every vitest suite;
# the integration suites start the servers themselves. Extra arguments go to vitest.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-servers.sh
echo "[test] building (dsp.wasm, dist/) and type-checking"
npm run --silent build
npx tsc -p tsconfig.json
mkdir -p .run
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json=.run/vitest-results.json "$@" || status=$?
# One plain closing line for people and CI logs alike.
node -e '
  const r = JSON.parse(require("fs").readFileSync(".run/vitest-results.json", "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' || true
exit "$status"
