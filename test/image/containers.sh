#!/usr/bin/env bash
# Runs buildah or podman on the project's own container storage, with the settings this project's
# machines need (docs/image.md says why each one is there):
#
#   test/image/containers.sh buildah ARGS...
#   test/image/containers.sh podman ARGS...
#
# Storage: the vfs driver (it needs no overlay or fuse support from the kernel) in a folder of its
# own, ECS_DRAINER_CONTAINERS (default /var/tmp/ecs-drainer/containers), so nothing here touches
# or depends on the machine's default /var/lib/containers. Builds use chroot isolation (no OCI
# runtime needed); podman uses containers.conf beside this script. Written for root, as CI runs.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=${ECS_DRAINER_CONTAINERS:-/var/tmp/ecs-drainer/containers}
storage=(--root "$root/storage" --runroot "$root/run" --storage-driver vfs)
export BUILDAH_ISOLATION=chroot
export CONTAINERS_CONF="$here/containers.conf"

tool=${1-}
case $tool in
buildah | podman) shift; exec "$tool" "${storage[@]}" "$@" ;;
*) echo "usage: $0 buildah|podman ARGS..." >&2; exit 2 ;;
esac
