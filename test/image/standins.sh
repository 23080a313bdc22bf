#!/usr/bin/env bash
# Builds local stand-ins for the Dockerfile's two base images, for machines that cannot pull
# golang:1.26 or gcr.io/distroless/static-debian12:nonroot (CI here reaches no image registry),
# and prints them as build arguments:
#
#   BUILDER_IMAGE=localhost/ecs-drainer-standin/golang:1.26.8
#   RUNTIME_IMAGE=localhost/ecs-drainer-standin/distroless-static:nonroot
#
# builder: this machine's Go toolchain at /usr/local/go (GOPATH /go, as in the golang image), a
#   static busybox for the shell that RUN needs, and a file-based module proxy at /goproxy holding
#   exactly the modules go.sum names, taken from this machine's module cache (or the module proxy
#   when the cache lacks one), so the Dockerfile's own `go mod download` runs offline.
# runtime: what distroless/static nonroot provides that the controller uses: Debian's CA bundle,
#   the time zone database, /etc/passwd with nonroot (uid 65532), /tmp, and user 65532:65532.
#
# An image is rebuilt only when its inputs change (this script, the Go version, go.sum, the CA
# bundle); the hash of the inputs is kept in a label. Both images carry the label
# io.ecs-drainer.standin, and so does every image built on them, which tells them from a real build.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
self="$here/$(basename "${BASH_SOURCE[0]}")"
c() { "$here/containers.sh" "$@"; }

goroot=$(go env GOROOT)
goversion=$(go env GOVERSION)
builder=localhost/ecs-drainer-standin/golang:${goversion#go}
runtime=localhost/ecs-drainer-standin/distroless-static:nonroot
ca_bundle=/etc/ssl/certs/ca-certificates.crt # Debian's ca-certificates
zoneinfo=/usr/share/zoneinfo                 # Debian's tzdata
busybox=/bin/busybox                         # Debian's busybox-static
inputs_label=io.ecs-drainer.standin.inputs

for f in "$ca_bundle" "$busybox" "$goroot/bin/go"; do
  [ -e "$f" ] || { echo "standins: $f is missing (apt-get install ca-certificates busybox-static; Go at /usr/local/go)" >&2; exit 1; }
done

# current IMAGE HASH: true when IMAGE exists and was built from inputs with this hash.
current() {
  [ "$(c buildah inspect --type image --format "{{index .OCIv1.Config.Labels \"$inputs_label\"}}" "$1" 2>/dev/null)" = "$2" ]
}

ctr=
work=$(mktemp -d)
cleanup() {
  if [ -n "$ctr" ]; then c buildah rm "$ctr" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# commit IMAGE HASH DESCRIPTION CONFIG...: commits the working container with the stand-in labels.
commit() {
  local image=$1 hash=$2 description=$3
  shift 3
  c buildah config --label io.ecs-drainer.standin=true --label "$inputs_label=$hash" \
    --label "org.opencontainers.image.description=$description" "$@" "$ctr"
  c buildah commit --quiet --rm "$ctr" "$image" >/dev/null
  ctr=
}

build_builder() {
  local hash mnt
  hash=$(cat "$self" "$repo/go.sum" <(echo "$goversion") | sha256sum | cut -c1-16)
  if current "$builder" "$hash"; then return; fi
  echo "standins: building $builder" >&2
  # The modules go.sum names, fetched into an empty module cache from this machine's cache (the
  # module proxy only for what that lacks); its cache/download folder is a GOPROXY file tree.
  (cd "$repo" && GOMODCACHE="$work/mod" GOFLAGS=-modcacherw \
    GOPROXY="file://$(go env GOMODCACHE)/cache/download,$(go env GOPROXY)" go mod download)
  ctr=$(c buildah from scratch)
  mnt=$(c buildah mount "$ctr")
  mkdir -p "$mnt/usr/local" "$mnt/bin" "$mnt/go" "$mnt/root" "$mnt/etc" "$mnt/tmp"
  chmod 1777 "$mnt/tmp"
  # The toolchain without its own tests and docs, which no build reads.
  tar -C "$(dirname "$goroot")" --anchored \
    --exclude="$(basename "$goroot")/test" --exclude="$(basename "$goroot")/doc" \
    --exclude="$(basename "$goroot")/api" --exclude="$(basename "$goroot")/misc" \
    -cf - "$(basename "$goroot")" | tar -C "$mnt/usr/local" -xf -
  [ "$(basename "$goroot")" = go ] || mv "$mnt/usr/local/$(basename "$goroot")" "$mnt/usr/local/go"
  cp "$busybox" "$mnt/bin/busybox"
  ln -s busybox "$mnt/bin/sh"
  cp -r "$work/mod/cache/download" "$mnt/goproxy"
  echo 'root:x:0:0:root:/root:/bin/sh' >"$mnt/etc/passwd"
  echo 'root:x:0:' >"$mnt/etc/group"
  c buildah umount "$ctr" >/dev/null
  commit "$builder" "$hash" "Stand-in for golang:${goversion#go} built by test/image/standins.sh" \
    --env PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env GOPATH=/go --env HOME=/root --env GOTOOLCHAIN=local \
    --env GOPROXY=file:///goproxy --env GOSUMDB=off --workingdir /go
}

build_runtime() {
  local hash mnt
  hash=$(cat "$self" "$ca_bundle" | sha256sum | cut -c1-16)
  if current "$runtime" "$hash"; then return; fi
  echo "standins: building $runtime" >&2
  ctr=$(c buildah from scratch)
  mnt=$(c buildah mount "$ctr")
  mkdir -p "$mnt/etc/ssl/certs" "$mnt/usr/share" "$mnt/tmp" "$mnt/home/nonroot"
  chmod 1777 "$mnt/tmp"
  chown 65532:65532 "$mnt/home/nonroot"
  cp "$ca_bundle" "$mnt/etc/ssl/certs/ca-certificates.crt"
  if [ -d "$zoneinfo" ]; then cp -r "$zoneinfo" "$mnt/usr/share/zoneinfo"; fi
  # distroless' accounts.
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$mnt/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' >"$mnt/etc/group"
  c buildah umount "$ctr" >/dev/null
  commit "$runtime" "$hash" "Stand-in for gcr.io/distroless/static-debian12:nonroot built by test/image/standins.sh" \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    --user 65532:65532 --workingdir /home/nonroot
}

build_builder
build_runtime
echo "BUILDER_IMAGE=$builder"
echo "RUNTIME_IMAGE=$runtime"
