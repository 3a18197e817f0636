# fwdproxy image: `docker build -t fwdproxy .` (docker-compose.yml builds it too).
# Untested on the development machines (no Docker engine there).
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
