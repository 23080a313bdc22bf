#!/usr/bin/env bash
# Runs the controller image the way the ECS task definition does (config/ecs/task-definition.json:
# readonlyRootFilesystem, the image's own non-root user), on the host's network so that it reaches
# awssim on loopback:
#
#   ECS_DRAINER_IMAGE=localhost/ecs-drainer:v0.1.0 test/image/run.sh [controller flags...]
#
# The AWS_* variables of the caller's environment are passed in (the tests set them to awssim's
# endpoint and fake keys). ECS_DRAINER_CONTAINER_NAME names the container (default: podman picks),
# so that a test can inspect it and remove it. podman runs attached: it prints the controller's
# output and passes SIGTERM on to it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
image=${ECS_DRAINER_IMAGE:?set ECS_DRAINER_IMAGE to the image to run}

args=(run --rm --pull never --read-only --read-only-tmpfs=false --network host)
if [ -n "${ECS_DRAINER_CONTAINER_NAME-}" ]; then args+=(--name "$ECS_DRAINER_CONTAINER_NAME"); fi
while IFS= read -r name; do args+=(--env "$name"); done < <(compgen -e | grep '^AWS_' || true)
exec "$here/containers.sh" podman "${args[@]}" "$image" "$@"
