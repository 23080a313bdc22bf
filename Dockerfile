# Container image of the ecs-drainer controller.
#
#   docker build --build-arg VERSION=v0.1.0 --build-arg REVISION=$(git rev-parse HEAD) -t ecs-drainer .
#   docker buildx build --platform linux/amd64,linux/arm64 ... (cross-compiles, no emulation)
#   make image   (buildah, with local stand-ins for the base images: docs/image.md)
#
# No HEALTHCHECK: the runtime image has no shell or curl to run one, and ECS ignores a Docker
# HEALTHCHECK anyway (only the task definition's healthCheck counts). Liveness comes from the
# process itself (it exits on a fatal error and ECS replaces the task), from the ECS deployment
# circuit breaker, and from Prometheus scraping /metrics (the EcsDrainerDown alert);
# /healthz and /readyz on :8080 are there for a load balancer or a sidecar that wants them.

ARG GO_VERSION=1.26
# The base images are build arguments so that a machine that cannot pull them can build on local
# stand-ins (test/image/standins.sh makes them from Debian's packages and the host's Go toolchain;
# docs/image.md). The defaults are the public images, which every other build uses.
ARG BUILDER_IMAGE=golang:${GO_VERSION}
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM --platform=$BUILDPLATFORM ${BUILDER_IMAGE} AS build
WORKDIR /src
# Dependencies first, in their own layer: it is rebuilt only when go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
ARG REVISION=unknown
# The Go build cache survives between builds on one machine (BuildKit and buildah both keep it).
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath \
    -ldflags "-s -w -X main.version=${VERSION} -X main.revision=${REVISION}" \
    -o /ecs-drainer ./cmd/controller

# distroless/static: CA certificates and tzdata, no shell, no package manager; the nonroot
# tag runs as uid 65532.
FROM ${RUNTIME_IMAGE}
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="ecs-drainer" \
      org.opencontainers.image.description="Makes EC2 Auto Scaling scale-in safe for Amazon ECS" \
      org.opencontainers.image.source="https://github.com/ecs-drainer/ecs-drainer" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=build /ecs-drainer /ecs-drainer
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/ecs-drainer"]
