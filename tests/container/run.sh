#!/usr/bin/env bash
# The container leg of CI: build replyd's image (Dockerfile) on a base made from Debian's
# packages, then run tests/container against it, on this machine's PostgreSQL and Redis.
# Outside CI it is skipped, saying why, where podman is missing. The recipe and the flags
# this kind of machine needs are in ../shared/CONTAINERS.md of the project's workspace.
set -euo pipefail
cd "$(dirname "$0")/../.."
started=$(date +%s)

if ! command -v podman >/dev/null; then
    if [ "${CI:-}" != true ]; then
        echo "container test skipped: podman is not installed (apt-get install podman runc debootstrap)"
        exit 0
    fi
    apt-get update && apt-get install -y podman runc debootstrap
fi

VENV=${VENV:-.venv}
BASE=localhost/debian-python:bookworm
IMAGE=localhost/replyd:test
P=(podman --runtime runc)
F=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --network host)

# The base: Debian bookworm's python3 (no registry is reachable here to pull python:3.11-slim).
# pip inside the build reaches PyPI through this machine's TLS path, so the base (never the
# project's Dockerfile) trusts this machine's extra CA certificates. Built once, then reused.
if ! "${P[@]}" image exists "$BASE"; then
    rootfs=$(mktemp -d)
    debootstrap --variant=minbase --include=ca-certificates,python3,python3-venv,python3-pip bookworm "$rootfs" \
        "$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)"
    tar -C "$rootfs" -c . | "${P[@]}" import - "$BASE-raw"
    rm -rf "$rootfs"
    ctx=$(mktemp -d)
    mkdir "$ctx/certs" && cp /usr/local/share/ca-certificates/*.crt "$ctx/certs/" 2>/dev/null || true
    cat >"$ctx/Containerfile" <<EOF2
FROM $BASE-raw
COPY certs/ /usr/local/share/ca-certificates/
RUN update-ca-certificates
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
EOF2
    "${P[@]}" build "${F[@]}" -t "$BASE" "$ctx"
    rm -rf "$ctx"
fi

# The llama-cpp-python wheel `make test` compiled into wheels/, so that the image's build does
# not compile it again.
make --no-print-directory llama-wheel

"${P[@]}" build "${F[@]}" --format docker --build-arg BASE="$BASE" -t "$IMAGE" .
built=$(date +%s)
echo "== image $IMAGE: $("${P[@]}" image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1 / 1e6}'), built in $((built - started)) s"

REPLYD_TEST_IMAGE=$IMAGE \
    REPLYD_TEST_POSTGRES_URL=${POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/test} \
    REPLYD_TEST_APP_REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0} \
    "$VENV/bin/pytest" -p no:cacheprovider tests/container
echo "== container leg done in $(($(date +%s) - started)) s"
