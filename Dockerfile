# vigil as a container sidecar on a gateway VM:
#   docker build -t vigil .
#   docker run -d --name vigil --network host \
#     --cap-drop ALL --cap-add NET_ADMIN --cap-add NET_RAW \
#     -v /etc/vigil:/etc/vigil:ro vigil
# --network host: VRRP, the VIPs and GARP live on the host's interfaces.
# NET_ADMIN adds and removes the VIPs (and programs IPVS); NET_RAW opens the
# VRRP and ARP sockets. Nothing else, no privileged mode and no root: the
# image runs as uid 65532 ("nonroot"), and the binary carries file
# capabilities for exactly those two, which the kernel grants only as far as
# the container's bounding set (--cap-add) allows. Docker gives a non-root
# user no ambient capabilities, so file capabilities are how the two reach
# it; do not add --security-opt no-new-privileges, which disables them.
# A proxy service listening below port 1024 also needs NET_BIND_SERVICE
# (add it to both the setcap line and --cap-add). vigil checks its own
# capabilities at start and names any that are missing.
# tests/nonroot_test.go runs vigil exactly so (uid 65532, file capabilities,
# bounding set of the two) and through ambient capabilities, as systemd does.
# Other architectures: docker buildx build --platform linux/arm64 (the
# compiler runs on the build machine's own, TARGETOS/TARGETARCH say for
# what). The image needs no --init: as PID 1, vigil runs the daemon as its
# child and reaps what exec checks and notify scripts leave behind.
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libcap2-bin && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
ARG TARGETOS=linux
ARG TARGETARCH
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.date=${DATE}" -o /out/vigil . \
 && setcap cap_net_admin,cap_net_raw=ep /out/vigil \
 && mkdir -p /out/run/vigil

# BuildKit (Docker's builder since 23.0) keeps the security.capability
# attribute across COPY; --chown would clear it, so only the socket
# directory is chowned.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
LABEL org.opencontainers.image.title="vigil" \
      org.opencontainers.image.description="VRRP, health checks and load balancing in one binary" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.revision="$COMMIT" \
      org.opencontainers.image.created="$DATE"
COPY --from=build /out/vigil /usr/bin/vigil
COPY --from=build --chown=65532:65532 /out/run/vigil /run/vigil
USER 65532:65532
ENTRYPOINT ["/usr/bin/vigil"]
CMD ["run", "-c", "/etc/vigil/vigil.yaml"]
