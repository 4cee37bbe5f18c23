# syntax=docker/dockerfile:1
#
# Baton: one static binary (`baton dev|api|worker|migrate|version`).
# Build:  docker build -t baton:local .
# Run:    see docker-compose.yml for the production shape.

# ---- build stage -----------------------------------------------------------
# The Go version matches go.mod (go 1.26.8). GOTOOLCHAIN=local makes a
# mismatch fail loudly instead of downloading another toolchain.
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 \
    GOTOOLCHAIN=local \
    GOFLAGS=-trimpath

# Dependencies first, so source edits reuse the module layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download

COPY . .
# `docker build --build-arg VERSION=$(git describe --tags --always) .`
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -ldflags="-s -w -X main.version=${VERSION}" -o /out/baton ./cmd/baton

# ---- runtime stage ---------------------------------------------------------
# Debian rather than distroless/scratch: shell tasks run real scripts, so the
# worker needs /bin/sh, bash and the usual tools (curl for http checks in
# scripts, tzdata for TZ-aware `date`, ca-certificates for https).
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      bash ca-certificates curl tzdata procps \
 && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 baton \
 && useradd --system --uid 10001 --gid baton \
      --home-dir /var/lib/baton --create-home --shell /bin/bash baton

COPY --from=build /out/baton /usr/local/bin/baton

USER baton:baton
WORKDIR /var/lib/baton
ENV BATON_DATA_DIR=/var/lib/baton
EXPOSE 8080

# Shell tasks fork children; run the container with an init (compose sets
# `init: true`) so orphaned grandchildren are reaped.
ENTRYPOINT ["baton"]
CMD ["version"]
