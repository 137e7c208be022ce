# ecg-server (and ecg-train, for the embedding Job): multi-stage build (official Swift image → slim Debian runtime).
# Build:  docker build -t ecg-affect .
# Run:    docker run --rm -p 8080:8080 ecg-affect
# Package.swift needs swift-tools-version 6.2 (treatAllWarnings).
FROM swift:6.2-bookworm AS build
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends zlib1g-dev libssl-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
# Package.swift names the test targets too (their folders must exist to build any product).
COPY Tests ./Tests
RUN swift build -c release --product ecg-server --static-swift-stdlib \
 && swift build -c release --product ecg-train --static-swift-stdlib \
 && cp "$(swift build -c release --show-bin-path)/ecg-server" "$(swift build -c release --show-bin-path)/ecg-train" /

FROM debian:bookworm-slim
# zlib and libcrypto are the only native libraries the binary links; curl is for HEALTHCHECK.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends zlib1g libssl3 curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin ecg
WORKDIR /app
COPY --from=build /ecg-server /ecg-train /app/
COPY weights /app/weights
USER 10001
ENV ECG_HOST=0.0.0.0 ECG_PORT=8080 ECG_WEIGHTS=/app/weights ECG_DRAIN_SECONDS=20
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=2s --start-period=15s --retries=3 \
  CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/health"]
# Exec form: SIGTERM reaches the server (PID 1), which drains and exits 0.
ENTRYPOINT ["/app/ecg-server"]
