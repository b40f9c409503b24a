# Base images are pinned to exact versions: the toolchain the project is tested
# with (Rust 1.95.0) and the Debian point release of its test machines (12.11).
# To pin by digest too, resolve each tag where a registry is reachable
# (`docker buildx imagetools inspect rust:1.95.0-bookworm`) and append
# `@sha256:…`; the build machines here cannot reach Docker Hub to look it up.

# Build: the release binary, with the locked dependency set.
FROM rust:1.95.0-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
# Embedded in the binary: migrations and the RBAC policy.
COPY migrations migrations
COPY policy policy
# Declared targets must exist for cargo to read the manifest.
COPY benches benches
COPY examples examples
RUN cargo build --release --locked --bin signet

# Run: a slim image, no compiler, no shell tools needed, non-root.
FROM debian:12.11-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/signet --create-home signet
COPY --from=build /src/target/release/signet /usr/local/bin/signet
USER 10001:10001
WORKDIR /var/lib/signet
# The API refuses plain HTTP on 0.0.0.0 unless told otherwise: set
# SIGNET_TLS_CERT and SIGNET_TLS_KEY, or SIGNET_ALLOW_PLAIN_HTTP=true behind a
# proxy that terminates TLS. Metrics, health and readiness: port 9464.
ENV SIGNET_LISTEN=0.0.0.0:8080 \
    SIGNET_METRICS_LISTEN=0.0.0.0:9464 \
    SIGNET_LOG_FORMAT=json
EXPOSE 8080 9464
HEALTHCHECK --interval=10s --timeout=5s --retries=3 CMD ["signet", "healthcheck"]
ENTRYPOINT ["signet"]
CMD ["serve"]
