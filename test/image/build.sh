#!/usr/bin/env bash
# Builds the container image from the real Dockerfile with buildah, on local stand-ins for its
# base images (standins.sh), with no registry:
#
#   test/image/build.sh IMAGE VERSION REVISION      (what `make image` runs)
#
# The Dockerfile's defaults stay the public images; only the two build arguments differ from
# `make docker-build`. The Go build cache is a cache mount (RUN --mount=type=cache), kept between
# builds on one machine.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
if [ $# -ne 3 ]; then echo "usage: $0 IMAGE VERSION REVISION" >&2; exit 2; fi
image=$1 version=$2 revision=$3

args=()
while IFS= read -r line; do args+=(--build-arg "$line"); done < <("$here/standins.sh")
# BuildKit sets TARGETOS and TARGETARCH itself; buildah 1.28 (Debian 12) does not.
args+=(--build-arg "TARGETOS=$(go env GOOS)" --build-arg "TARGETARCH=$(go env GOARCH)")

start=$SECONDS
"$here/containers.sh" buildah bud --pull-never --isolation chroot "${args[@]}" \
  --build-arg "VERSION=$version" --build-arg "REVISION=$revision" \
  --file "$repo/Dockerfile" --tag "$image" "$repo"
echo "image: built $image ($version, revision $revision) in $((SECONDS - start)) s;" \
  "$("$here/containers.sh" buildah images --format '{{.Size}}' "$image") uncompressed"
# The image this replaced, if any, is now untagged: drop it (vfs keeps a full copy of each).
"$here/containers.sh" buildah rmi --prune >/dev/null 2>&1 || true
