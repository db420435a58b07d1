#!/usr/bin/env bash
# `make release-api`: records proto/ as the released API, the baseline that
# `make proto-check` compares the working tree with. Writes and you commit:
#   api/released.binpb  a buf image of proto/ with its imports (third_party/,
#                       proto-deps/, well-known types) and source info, so
#                       `buf breaking` reads it offline with nothing else
#   api/released.txtpb  the same descriptors as protobuf text, without imports
#                       or source info: the form a reviewer diffs
# Unstable packages (vNalphaM, vNbetaM, vNtest...) are left out: the gate
# never compares them (ignore_unstable_packages), and a draft is not a release.
# Refuses to release contracts that fail format or lint, a release that
# breaks the previous one unless ALLOW_BREAKING=1, and one that widens who
# may call what (meshwork.access.v1) unless ALLOW_ACCESS_WIDENING=1.
# BUF overrides the buf binary (default node_modules/.bin/buf).
set -euo pipefail
cd "$(dirname "$0")/.."
buf=${BUF:-node_modules/.bin/buf}
baseline=api/released.binpb
reviewable=api/released.txtpb

./scripts/proto-check.sh format lint

if [ -f "$baseline" ] && ! "$buf" breaking proto --against "$baseline" --error-format json >/dev/null; then
  if [ "${ALLOW_BREAKING:-}" != 1 ]; then
    ./scripts/proto-check.sh breaking || true
    echo "release-api: proto/ breaks the released API (above); release it anyway with ALLOW_BREAKING=1" >&2
    exit 1
  fi
  echo "release-api: releasing a breaking change (ALLOW_BREAKING=1)" >&2
fi

if [ -f "$baseline" ] && ! ./scripts/proto-check.sh access >/dev/null 2>&1; then
  if [ "${ALLOW_ACCESS_WIDENING:-}" != 1 ]; then
    ./scripts/proto-check.sh access || true
    echo "release-api: proto/ widens who may call what (above); release it anyway with ALLOW_ACCESS_WIDENING=1" >&2
    exit 1
  fi
  ALLOW_ACCESS_WIDENING=1 ./scripts/proto-check.sh access
  echo "release-api: releasing a widening of access (ALLOW_ACCESS_WIDENING=1)" >&2
fi

exclude=()
while IFS= read -r dir; do
  exclude+=(--exclude-path "$dir")
done < <(find proto -type d -regextype posix-extended \
  -regex '.*/v[0-9]+(alpha|beta)[0-9]*|.*/v[0-9]+test[a-z0-9_]*' | sort)

mkdir -p api
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$buf" build proto "${exclude[@]}" -o "$tmp/released.binpb"
"$buf" build "$tmp/released.binpb" --exclude-imports --exclude-source-info -o "$tmp/released.txtpb"
mv "$tmp/released.binpb" "$baseline"
mv "$tmp/released.txtpb" "$reviewable"
echo "released: $(grep -E '^  name: ' "$reviewable" | sed -E 's/^  name: "(.*)"/\1/' | tr '\n' ' ')"
[ ${#exclude[@]} -eq 0 ] || echo "left out (unstable): $(printf '%s ' "${exclude[@]}" | sed 's/--exclude-path //g')"
echo "review and commit $baseline and $reviewable"
