# syntax=docker/dockerfile:1
# The medgym server image: one static-ish binary (knowledge and content embedded at build time)
# on a distroless base, run as a non-root user. Build and run: docs/deploy.md.
#
#   docker build -t medgym .
#   docker run --rm -p 50051:50051 -p 9100:9100 medgym

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
# The cache mounts keep the crate registry and target/ between builds, so a source change
# recompiles the workspace crates only, not the ~300 dependencies. The release profile keeps
# line tables for local backtraces; the image strips them (symbol names stay) to save ~100 MB.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    CARGO_PROFILE_RELEASE_STRIP=debuginfo cargo build --release --locked --bin medgym \
    && install -D -m 0755 target/release/medgym /out/medgym \
    && install -d -o 65532 -g 65532 /out/kb-cache

# distroless/cc: glibc and libgcc only (what the binary links), no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/medgym /usr/local/bin/medgym
# The knowledge-base index is built here on first start (a few seconds) and reused while the
# directory lives: mount a volume (docker) or an emptyDir (Kubernetes) to keep it writable.
COPY --from=build --chown=65532:65532 /out/kb-cache /var/cache/medgym
# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 65532:65532
# The server binds loopback by default; in a container it must listen on every interface.
# Flags given to `docker run IMAGE ...` override these variables.
ENV MEDGYM_ADDR=0.0.0.0:50051 \
    MEDGYM_METRICS_ADDR=0.0.0.0:9100 \
    MEDGYM_KB_CACHE=/var/cache/medgym
# gRPC (medgym.v1.Environment, grpc.health.v1, reflection), then Prometheus /metrics.
EXPOSE 50051 9100
# medgym handles SIGTERM itself (finishes in-flight steps, syncs trajectory files).
ENTRYPOINT ["/usr/local/bin/medgym", "serve"]
