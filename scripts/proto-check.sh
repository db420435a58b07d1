#!/usr/bin/env bash
# `make proto-check`: the contract gate CI runs first. Steps, in order (all of
# them run, so one run reports every problem; the exit status is non-zero if
# any failed):
#   format     buf format leaves proto/, test/proto/ and third_party/ unchanged
#   lint       buf lint (STANDARD + COMMENTS)
#   breaking   buf breaking, FILE category, against the released baseline
#              api/released.binpb (moved only by `make release-api`); unstable
#              packages (v1alpha1, v2beta1, ...) are ignored, see buf.yaml
#   access     who may call what (meshwork.access.v1) against the baseline:
#              every change is reported, a widening fails
#              (scripts/access-check.ts; released on purpose with
#              ALLOW_ACCESS_WIDENING=1 make release-api)
#   generated  gen/ and test/gen/ are what `make generate` makes (scripts/check-generated.sh)
# Arguments name a subset of the steps (the contract tests run
# `format lint breaking` in a copy of the repository). Lint and breaking
# violations print as `file:line:col: RULE_ID message`.
# BUF overrides the buf binary (default node_modules/.bin/buf).
set -uo pipefail
cd "$(dirname "$0")/.."
buf=${BUF:-node_modules/.bin/buf}
baseline=api/released.binpb
reviewable=api/released.txtpb

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(format lint breaking access generated)

# buf's JSON violations (one object a line on stdout) as
# `file:line:col: RULE_ID message`; a violation with no location in the
# working tree (a deleted file) is reported at $1. Other lines pass unchanged.
violations() {
  node -e '
    const lines = require("fs").readFileSync(0, "utf8").split("\n").filter(Boolean);
    for (const line of lines) {
      let v;
      try { v = JSON.parse(line); } catch { console.log(line); continue; }
      const at = v.path ? `${v.path}:${v.start_line ?? 1}:${v.start_column ?? 1}` : process.argv[1];
      console.log(`${at}: ${v.type} ${v.message}`);
    }' "$1"
}

step_format() {
  local ok=0
  "$buf" format --diff --exit-code proto || ok=1
  "$buf" format --diff --exit-code third_party || ok=1
  "$buf" format --diff --exit-code test/proto || ok=1
  return $ok
}

step_lint() {
  "$buf" lint --error-format json | violations buf.yaml
  return "${PIPESTATUS[0]}"
}

step_breaking() {
  if [ ! -f "$baseline" ]; then
    echo "$baseline is missing: the released API baseline is committed; 'make release-api' creates it" >&2
    return 1
  fi
  # The reviewable text form must say what the binary says: both only ever
  # change together, through `make release-api`.
  local tmp status=0
  tmp=$(mktemp -d)
  "$buf" build "$baseline" --exclude-imports --exclude-source-info -o "$tmp/released.txtpb" || status=1
  if [ $status -eq 0 ] && ! cmp -s "$tmp/released.txtpb" "$reviewable"; then
    echo "$reviewable does not match $baseline: the baseline moves only through 'make release-api'" >&2
    status=1
  fi
  rm -rf "$tmp"
  "$buf" breaking proto --against "$baseline" --error-format json | violations "$baseline"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  return $status
}

step_access() {
  if [ ! -f "$baseline" ]; then
    echo "$baseline is missing: the released API baseline is committed; 'make release-api' creates it" >&2
    return 1
  fi
  local tmp status=0
  tmp=$(mktemp -d)
  "$buf" build proto -o "$tmp/current.binpb" || status=1
  if [ $status -eq 0 ]; then
    node --import tsx scripts/access-check.ts "$baseline" "$tmp/current.binpb" || status=1
  fi
  rm -rf "$tmp"
  return $status
}

step_generated() {
  ./scripts/check-generated.sh
}

failed=()
for step in "${steps[@]}"; do
  case "$step" in
    format | lint | breaking | access | generated) ;;
    *) echo "unknown step '$step' (format, lint, breaking, access, generated)" >&2; exit 2 ;;
  esac
  if "step_$step"; then
    echo "proto-check $step: ok"
  else
    echo "proto-check $step: FAILED" >&2
    failed+=("$step")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "proto-check failed: ${failed[*]}" >&2
  exit 1
fi
