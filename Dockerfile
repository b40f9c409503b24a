# Build: the release binary, with the locked dependency set.
FROM rust:1.95-bookworm AS build
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
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/signet --create-home signet
COPY --from=build /src/target/release/signet /usr/local/bin/signet
USER 10001:10001
WORKDIR /var/lib/signet
ENV SIGNET_LISTEN=0.0.0.0:8080 \
    SIGNET_LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --retries=3 CMD ["signet", "healthcheck"]
ENTRYPOINT ["signet"]
CMD ["serve"]
