#!/usr/bin/env bash
# scripts/production-modules.sh DIR: DIR/node_modules with the production
# dependencies only, as `npm ci --omit=dev` installs them, made from this
# checkout's installed node_modules (hard links, then `npm prune --omit=dev`)
# so that native modules (better-sqlite3) are not compiled again and nothing
# is downloaded. DIR gets package.json and package-lock.json beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:?usage: scripts/production-modules.sh DIR}
mkdir -p "$dir"
rm -rf "$dir/node_modules"
cp package.json package-lock.json "$dir/"
cp -al node_modules "$dir/node_modules"
rm -f "$dir/node_modules/.installed"
(cd "$dir" && npm prune --omit=dev --offline --no-audit --no-fund --loglevel=error >/dev/null)
# Scoped folders whose packages were all pruned stay behind empty.
find "$dir/node_modules" -mindepth 1 -maxdepth 1 -type d -empty -delete
