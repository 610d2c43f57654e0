# vigil as a container sidecar on a gateway VM:
#   docker build -t vigil .
#   docker run -d --name vigil --network host \
#     --cap-add NET_ADMIN --cap-add NET_RAW \
#     -v /etc/vigil:/etc/vigil:ro vigil
# --network host: VRRP, the VIPs and GARP live on the host's interfaces.
# NET_ADMIN adds and removes the VIPs; NET_RAW opens the VRRP and ARP sockets.
# No other capability and no privileged mode is needed.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/vigil .

FROM gcr.io/distroless/static-debian12
COPY --from=build /out/vigil /usr/bin/vigil
ENTRYPOINT ["/usr/bin/vigil"]
CMD ["run", "-c", "/etc/vigil/vigil.yaml"]
