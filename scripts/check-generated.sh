#!/usr/bin/env bash
# Fails when gen/ (and test/gen/) is not exactly what `make generate` produces
# from proto/ (and test/proto/): generated code is never edited by hand, and
# never left stale. An optional argument names another directory to check in
# place of gen/ (for its test); test/gen/ is then not checked.
set -euo pipefail
cd "$(dirname "$0")/.."
gen=${1:-gen}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
node_modules/.bin/buf generate --output "$tmp"
if ! diff -r "$gen" "$tmp/gen" > "$tmp/diff.txt"; then
  echo "gen/ is stale or was edited by hand; run 'make generate' and commit the result:" >&2
  head -n 40 "$tmp/diff.txt" >&2
  exit 1
fi
if [ $# -eq 0 ]; then
  node_modules/.bin/buf generate --template buf.gen.test.yaml --output "$tmp"
  if ! diff -r test/gen "$tmp/test/gen" > "$tmp/diff.txt"; then
    echo "test/gen/ is stale or was edited by hand; run 'make generate' and commit the result:" >&2
    head -n 40 "$tmp/diff.txt" >&2
    exit 1
  fi
fi
echo "$gen is up to date"
