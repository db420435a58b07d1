#!/usr/bin/env bash
# Runs every mocha suite once and keeps the output in test-output/mocha.log,
# from which .ci/run reports the totals.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p test-output
node_modules/.bin/mocha "$@" 2>&1 | tee test-output/mocha.log
exit "${PIPESTATUS[0]}"
