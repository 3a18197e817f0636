#!/usr/bin/env bash
# image-test.sh: build the container image with the repository's Dockerfile, unchanged, and run
# it against a MariaDB pair, on a Debian bookworm machine that has no Docker engine and cannot
# reach Docker Hub or gcr.io (only deb.debian.org and the Go module proxy). `make image-test`.
#
#   deploy/image-test.sh          build the stand-in base images (once), the image, then run checks
#   deploy/image-test.sh clean    remove WORK (the stand-ins, podman's storage, the pair)
#
# Podman (Debian's 4.3) builds and runs; root is needed (debootstrap, and podman's storage here).
# The Dockerfile's two base images are made locally and tagged with the names it uses, because
# their registries are unreachable (docs: deploy/helm/README.md, "The container image"):
#   docker.io/library/golang:1.26-bookworm   debootstrap'd bookworm (minbase + ca-certificates,
#       git, netbase, tzdata; plus the machine's own CAs) with the Go toolchain of go.mod's go line at /usr/local/go, taken
#       from the Go module proxy (golang.org/toolchain, the module GOTOOLCHAIN downloads) and
#       checked against go.sum's database; the official image's GOPATH, PATH and GOTOOLCHAIN=local.
#       The official one also has gcc and the other buildpack-deps tools: the build does not use
#       them (CGO_ENABLED=0).
#   gcr.io/distroless/static-debian12:nonroot   a scratch image with what distroless static
#       holds for a static binary: passwd/group with root, nobody and nonroot (65532), CA
#       certificates, tzdata, /etc/services, /tmp, /home/nonroot; user 65532 as in the real one.
# The build's `go mod download` then fetches every module from the Go module proxy inside the
# build container. Then it runs the image twice, with host networking and serve's flags, and with
# its own CMD (0.0.0.0:4000 and :4001, published) and FWDPROXY_* variables, and checks through each:
# a write forwarded to the writer, a SESSION read on the replica that sees it, /status on the admin
# address (0.0.0.0, so 401 without the token), the process's uid (65532, nonroot); and at the end
# that the replica has no GTID of its own. Before them: without a token the CMD refuses to start.
#
# Env: IMAGE_TEST_DIR work directory (default /tmp/fwdproxy-image-test; the stand-ins and
#      podman's storage are kept there between runs); FWDPROXY_PAIR_ENV the pair.env of a running
#      pair (integration/pair.sh start DIR) to use instead of starting one in WORK/pair;
#      IMAGE_TEST_CACHE=1 lets podman reuse cached build layers (default: build every step again,
#      so the module downloads really happen).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${IMAGE_TEST_DIR:-/tmp/fwdproxy-image-test}
GOLANG_IMAGE=docker.io/library/golang:1.26-bookworm
RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot
IMAGE=localhost/fwdproxy:image-test
CONTAINER=fwdproxy-image-test-$$
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"

die() { echo "image-test: $*" >&2; exit 1; }
say() { echo "image-test: $*" >&2; }

# Private storage, so that the stand-ins never shadow images anyone else keeps in podman's default
# store. runc, not Debian's default crun: crun refuses this machine's hybrid cgroups ("cgroups in
# hybrid mode not supported, drop all controllers from cgroupv2"; the unified hierarchy has hugetlb).
pod() { podman --root "$WORK/storage" --runroot "$WORK/run" --runtime runc "$@"; }
# Limits for every container below the machine's: podman asks for its own or the host's hard limits
# (1048576 open files), which runc cannot set here without CAP_SYS_RESOURCE ("error setting rlimit
# type 7: operation not permitted"), even when equal to the hard limits the shell shows.
LIMITS=(--ulimit nofile=10000:10000 --ulimit nproc=10000:10000)

if [ "${1:-}" = clean ]; then
	[ -f "$WORK/pair/pair.env" ] && bash "$REPO/integration/pair.sh" stop "$WORK/pair" >/dev/null 2>&1 || true
	pod rm -a -f >/dev/null 2>&1 || true
	pod rmi -a -f >/dev/null 2>&1 || true
	rm -rf "$WORK"
	exit 0
fi
[ $# -eq 0 ] || die "usage: image-test.sh [clean]"
[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap and podman's storage)"

need=()
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || need+=(runc)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v mariadb >/dev/null || need+=(mariadb-client)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
	say "installing ${need[*]}"
	apt-get update >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}" >&2
fi
mkdir -p "$WORK"

# The golang stand-in. Its Go is go.mod's go line (the official 1.26 image has the newest 1.26.x,
# which builds this module the same way).
gover=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$REPO/go.mod")
[ -n "$gover" ] || die "go.mod has no go line"
arch=$(dpkg --print-architecture)
if ! pod image exists "$GOLANG_IMAGE"; then
	if [ ! -f "$WORK/rootfs/.done" ]; then
		say "debootstrap bookworm into $WORK/rootfs"
		rm -rf "$WORK/rootfs"
		debootstrap --variant=minbase --include=ca-certificates,git,netbase,tzdata \
			bookworm "$WORK/rootfs" http://deb.debian.org/debian >"$WORK/debootstrap.log" 2>&1 ||
			die "debootstrap failed: $WORK/debootstrap.log"
		touch "$WORK/rootfs/.done"
	fi
	say "Go $gover from the Go module proxy (golang.org/toolchain)"
	toolchain=golang.org/toolchain@v0.0.1-go$gover.linux-$arch
	# Outside any module, so that go.mod's toolchain line plays no part in the download.
	godir=$(cd "$WORK" && GOFLAGS=-mod=mod GOTOOLCHAIN=local go mod download -json "$toolchain" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -f "$godir/bin/go" ] || die "no Go toolchain in $godir"
	rm -rf "$WORK/golang-root"
	cp -a "$WORK/rootfs" "$WORK/golang-root"
	rm -f "$WORK/golang-root/.done"
	cp -a "$godir" "$WORK/golang-root/usr/local/go"
	# Module zips keep no file modes: make the commands executable, as GOTOOLCHAIN's switch does.
	chmod -R u+w "$WORK/golang-root/usr/local/go"
	chmod a+x "$WORK/golang-root/usr/local/go/bin/"* "$WORK/golang-root/usr/local/go/pkg/tool/"*/*
	# The machine's own CAs too (/usr/local/share/ca-certificates): where egress goes through a
	# TLS-intercepting proxy, as on the machines this was written on, the build's module
	# downloads need them.
	if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
		cp /usr/local/share/ca-certificates/*.crt "$WORK/golang-root/usr/local/share/ca-certificates/"
		chroot "$WORK/golang-root" update-ca-certificates >/dev/null 2>&1
	fi
	mkdir -p "$WORK/golang-root/go/bin" "$WORK/golang-root/go/src"
	chmod -R 1777 "$WORK/golang-root/go"
	tar -C "$WORK/golang-root" --numeric-owner -cf - . | pod import -q \
		--change "ENV GOLANG_VERSION=$gover" --change 'ENV GOTOOLCHAIN=local' --change 'ENV GOPATH=/go' \
		--change 'ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'WORKDIR /go' --change 'CMD ["bash"]' \
		--message "stand-in for $GOLANG_IMAGE: debootstrap bookworm + Go $gover from the module proxy" \
		- "$GOLANG_IMAGE" >/dev/null
	rm -rf "$WORK/golang-root"
fi

# The distroless stand-in, from the same rootfs's certificates, zoneinfo and netbase files.
if ! pod image exists "$RUNTIME_IMAGE"; then
	say "making the stand-in for $RUNTIME_IMAGE"
	s=$WORK/static-root
	rm -rf "$s"
	mkdir -p "$s/etc/ssl/certs" "$s/usr/share" "$s/tmp" "$s/home/nonroot" "$s/root"
	cp "$WORK/rootfs/etc/ssl/certs/ca-certificates.crt" "$s/etc/ssl/certs/"
	cp -a "$WORK/rootfs/usr/share/zoneinfo" "$s/usr/share/"
	cp "$WORK/rootfs/etc/services" "$WORK/rootfs/etc/protocols" "$s/etc/"
	printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
		'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$s/etc/passwd"
	printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'tty:x:5:' 'staff:x:50:' 'nonroot:x:65532:' >"$s/etc/group"
	printf '%s\n' 'PRETTY_NAME="stand-in for distroless static-debian12 (fwdproxy deploy/image-test.sh)"' \
		'ID=debian' 'VERSION_ID="12"' >"$s/etc/os-release"
	chmod 1777 "$s/tmp"
	chmod 700 "$s/root" "$s/home/nonroot"
	chown 65532:65532 "$s/home/nonroot"
	tar -C "$s" --numeric-owner -cf - . | pod import -q \
		--change 'USER 65532' --change 'WORKDIR /home/nonroot' \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
		--message "stand-in for $RUNTIME_IMAGE: passwd with nonroot, CA certificates, tzdata" \
		- "$RUNTIME_IMAGE" >/dev/null
	rm -rf "$s"
fi

version=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo image-test)
cache=--no-cache
[ "${IMAGE_TEST_CACHE:-}" = 1 ] && cache=
say "podman build (the Dockerfile as it is; VERSION=$version)"
pod build --pull=never $cache "${LIMITS[@]}" --network host --build-arg "VERSION=$version" -t "$IMAGE" \
	-f "$REPO/Dockerfile" "$REPO" >&2
got=$(pod run --rm "${LIMITS[@]}" --network none "$IMAGE" version)
[ "$got" = "fwdproxy $version" ] || die "version: got $got, want fwdproxy $version"
say "ok: the image's binary says: $got"
# The image's CMD puts the admin API on 0.0.0.0: without a token it must refuse to start.
if out=$(pod run --rm "${LIMITS[@]}" --network none -e FWDPROXY_WRITER=192.0.2.1:3306 \
	-e FWDPROXY_READER=192.0.2.2:3306 -e FWDPROXY_USER=app:apppass "$IMAGE" 2>&1); then
	die "the image's CMD started without an admin token"
fi
grep -q 'needs a token: set FWDPROXY_ADMIN_TOKEN' <<<"$out" || die "without a token: $out"
say "ok: without FWDPROXY_ADMIN_TOKEN the image's CMD refuses to start"
say "image: $(pod image inspect -f '{{.Size}} bytes, user {{.Config.User}}, entrypoint {{.Config.Entrypoint}} cmd {{.Config.Cmd}}' "$IMAGE")"

cleanup() {
	pod rm -f -i "$CONTAINER-host" "$CONTAINER-cmd" >/dev/null 2>&1 || true
	[ -n "${stop_pair:-}" ] && bash "$REPO/integration/pair.sh" stop "$WORK/pair" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# The pair.
pairenv=${FWDPROXY_PAIR_ENV:-}
if [ -z "$pairenv" ]; then
	bash "$REPO/integration/pair.sh" stop "$WORK/pair" >/dev/null 2>&1 || true
	stop_pair=1
	bash "$REPO/integration/pair.sh" start "$WORK/pair" >/dev/null
	pairenv=$WORK/pair/pair.env
fi
# shellcheck disable=SC1090
. "$pairenv"

free_port() { # a loopback port nothing listens on
	local p
	while p=$((20000 + RANDOM % 20000)); (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do :; done
	echo "$p"
}
token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
fail=0
check() { # check WHAT GOT WANT
	if [ "$2" = "$3" ]; then say "ok: $1 ($2)"; else say "FAIL: $1: got '$2', want '$3'"; fail=1; fi
}
direct() { mariadb -S "$1" -u"$ROOT_USER" -p"$ROOT_PASSWORD" -N -B -e "$2"; }
# DDL is not forwarded (1235, as on Aurora): the table is made on the writer itself.
direct "$WRITER_SOCKET" "CREATE TABLE IF NOT EXISTS fwdtest.image_test (id INT PRIMARY KEY, v VARCHAR(100))"

# checks NAME PORT ADMIN WRITER: the container NAME, its client and admin ports on the host's
# loopback and the writer address it was given; row NAME's id is the run's number.
runs=0
checks() {
	local name=$1 port=$2 admin=$3 writer=$4 id=$((++runs))
	for _ in $(seq 100); do
		curl -fsS -o /dev/null "http://127.0.0.1:$admin/readyz" 2>/dev/null && break
		sleep 0.1
	done
	curl -fsS -o /dev/null "http://127.0.0.1:$admin/readyz" || { pod logs "$name" >&2; die "$name: not ready"; }

	# The process runs as nonroot: its uid on the host (no user namespace) and podman's view.
	local pid
	pid=$(pod inspect -f '{{.State.Pid}}' "$name")
	check "the proxy's uid" "$(stat -c %u "/proc/$pid")" 65532
	check "podman top user" "$(pod top "$name" user | tail -n 1 | tr -d ' ')" nonroot

	local marker="image-$version-$$-$id" out
	out=$(mariadb --protocol=tcp -h127.0.0.1 -P"$port" -u"$TEST_USER" -p"$TEST_PASSWORD" -N -B -e "
		SET aurora_replica_read_consistency = 'SESSION';
		REPLACE INTO fwdtest.image_test VALUES ($id, '$marker');
		SELECT v, @@server_id FROM fwdtest.image_test WHERE id = $id;")
	check "SESSION read after the forwarded write (value, server_id)" "$out" "$marker	$READER_SERVER_ID"
	check "the row on the writer" "$(direct "$WRITER_SOCKET" "SELECT v FROM fwdtest.image_test WHERE id = $id")" "$marker"

	check "/status without the token" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$admin/status")" 401
	local status
	status=$(curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$admin/status")
	field() { grep -o "\"$1\": *[^,}]*" <<<"$status" | head -n 1 | cut -d: -f2- | tr -d ' "'; }
	check "/status writer" "$(field writer)" "$writer"
	check "/status forwarded DML statements" "$(field Aurora_fwd_replica_dml_stmt_count)" 1
	[ $fail -eq 0 ] || { pod logs "$name" >&2; die "checks failed"; }
}

# 1. Host networking, settings as serve's flags. The admin address is 0.0.0.0 as in the image's
# CMD, so the token is needed: FWDPROXY_ADMIN_TOKEN, as a deployment passes it.
port=$(free_port)
admin=$(free_port)
say "run 1, host network: proxy on 127.0.0.1:$port, admin on 0.0.0.0:$admin"
pod run -d "${LIMITS[@]}" --name "$CONTAINER-host" --network host -e "FWDPROXY_ADMIN_TOKEN=$token" "$IMAGE" \
	serve --listen "127.0.0.1:$port" --admin "0.0.0.0:$admin" \
	--writer "$WRITER_ADDR" --reader "$READER_ADDR" --user "$TEST_USER:$TEST_PASSWORD" >/dev/null
checks "$CONTAINER-host" "$port" "$admin" "$WRITER_ADDR"

# 2. The image's own CMD (0.0.0.0:4000 and :4001) in its own network namespace, the ports
# published on the host's loopback, the settings as FWDPROXY_* variables. slirp4netns with
# allow_host_loopback lets the container reach the pair's loopback ports as 10.0.2.2.
port=$(free_port)
admin=$(free_port)
say "run 2, the image's CMD: 4000 on 127.0.0.1:$port, 4001 on 127.0.0.1:$admin"
pod run -d "${LIMITS[@]}" --name "$CONTAINER-cmd" --network slirp4netns:allow_host_loopback=true \
	-p "127.0.0.1:$port:4000" -p "127.0.0.1:$admin:4001" -e "FWDPROXY_ADMIN_TOKEN=$token" \
	-e "FWDPROXY_WRITER=10.0.2.2:${WRITER_ADDR##*:}" -e "FWDPROXY_READER=10.0.2.2:${READER_ADDR##*:}" \
	-e "FWDPROXY_USER=$TEST_USER:$TEST_PASSWORD" "$IMAGE" >/dev/null
checks "$CONTAINER-cmd" "$port" "$admin" "10.0.2.2:${WRITER_ADDR##*:}"

# The replica wrote nothing of its own: every GTID it has came from the writer.
read -r rid binlog current < <(direct "$READER_SOCKET" "SELECT @@server_id, @@GLOBAL.gtid_binlog_pos, @@GLOBAL.gtid_current_pos")
own=$(tr ',' '\n' <<<"$binlog,$current" | awk -F- -v id="$rid" '$2 == id' | paste -sd, -)
check "replica GTIDs of its own" "${own:-none}" none
slave=$(mariadb -S "$READER_SOCKET" -u"$ROOT_USER" -p"$ROOT_PASSWORD" -e 'SHOW SLAVE STATUS\G' | grep -E '^ *(Slave_IO_Running|Slave_SQL_Running|Last_Errno):' | tr -d ' ' | paste -sd, -)
check "replica's replication" "$slave" "Slave_IO_Running:Yes,Slave_SQL_Running:Yes,Last_Errno:0"
[ $fail -eq 0 ] || die "checks failed"
say "all checks passed"
