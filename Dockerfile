# fwdproxy image: `docker build -t fwdproxy .` (docker-compose.yml builds it too).
# Built and run with podman, not Docker, on the development machines: deploy/image-test.sh
# (make image-test) builds this file unchanged with local stand-ins for both base images, whose
# registries are unreachable there, and runs the image against a MariaDB pair
# (deploy/helm/README.md, "The container image").
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=docker
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/fwdproxy ./cmd/fwdproxy

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/fwdproxy /usr/local/bin/fwdproxy
# 4000: MySQL clients; 4001: admin HTTP (/status, /metrics), which on 0.0.0.0 needs a token:
# docker run -e FWDPROXY_ADMIN_TOKEN=… (or --admin-token-file on a mounted secret).
EXPOSE 4000 4001
USER nonroot
ENTRYPOINT ["/usr/local/bin/fwdproxy"]
CMD ["serve", "--listen", "0.0.0.0:4000", "--admin", "0.0.0.0:4001"]
