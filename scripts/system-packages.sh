#!/usr/bin/env bash
# scripts/system-packages.sh PURPOSE: makes sure the Debian packages that
# PURPOSE (test, bench, ...) needs are installed, from the one list in
# scripts/system-packages.txt. Installs the missing ones quietly with apt-get
# when it can (root with apt-get); otherwise stops, before anything runs, with
# one message naming the packages and the command. With everything present it
# does nothing and prints nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
purpose=${1:?usage: scripts/system-packages.sh test|bench}

missing=()
while IFS='|' read -r package needed_by check; do
  package=${package//[[:space:]]/}
  case "$package" in "" | "#"*) continue ;; esac
  case " $needed_by " in *" $purpose "*) ;; *) continue ;; esac
  bash -c "$check" >/dev/null 2>&1 || missing+=("$package")
done <scripts/system-packages.txt
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian packages for make $purpose: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${missing[@]}" >/dev/null
  exit 0
fi
echo "make $purpose needs Debian packages that are missing: ${missing[*]}" >&2
echo "Install them, then run make $purpose again: sudo apt-get install -y ${missing[*]}" >&2
exit 1
