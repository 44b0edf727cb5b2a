#!/usr/bin/env bash
# Build a local stand-in for the official `python:3.12-slim-bookworm` image.
#
# Use this ONLY on a machine that cannot pull from Docker's public registry
# (`docker pull python:3.12-slim-bookworm` fails). Where the registry is
# reachable, pull the real image instead; it replaces this tag.
#
# What it does (Debian host, run as root, ~75 s on 2 cores):
#   0. starts dockerd if `docker info` fails
#   1. debootstraps a minimal Debian 12 (bookworm) root filesystem with
#      python3, python3-venv, python3-dev, gcc, libc6-dev, ca-certificates
#   2. makes it behave like the official image: host apt sources, the host's
#      extra CA certificates trusted (needed for HTTPS/pip from containers on
#      machines behind a TLS-intercepting proxy), /usr/local turned into a
#      venv (so /usr/local/bin/{python,pip} exist and plain `pip install`
#      works despite PEP 668), apt lists/docs/locales removed
#   3. imports it as `python:3.12-slim-bookworm` so an unchanged
#      `FROM python:3.12-slim-bookworm` resolves locally
#
# Caveats of the stand-in (read before trusting a green build):
#   * It is Python 3.11 (bookworm ships 3.11), NOT 3.12: wheels are cp311,
#     paths are /usr/local/lib/python3.11/..., PYTHON_VERSION says 3.11.x.
#     A green build proves the Dockerfile's logic, not 3.12 compatibility.
#   * gcc and python3-dev are in the base, so images are larger than with
#     the official base (base ~363 MB vs ~125 MB).
#   * Never `docker build --pull` and never pin the base by digest on such a
#     machine; that goes to the unreachable registry. Don't push this image.
#
# Environment overrides:
#   ROOTFS=/tmp/pybase-rootfs   scratch directory for the root filesystem
#   MIRROR=...                  Debian mirror (default: the host's apt source)
#   IMAGE=python:3.12-slim-bookworm   tag to import as
#   FORCE=1                     rebuild even if IMAGE already exists
#   KEEP_ROOTFS=1               keep the scratch root filesystem afterwards
set -euo pipefail

ROOTFS=${ROOTFS:-/tmp/pybase-rootfs}
IMAGE=${IMAGE:-python:3.12-slim-bookworm}

log() { printf '[build-local-base-image] %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
    log "must run as root (debootstrap and chroot need it)"
    exit 1
fi

# 0. Docker daemon: start it only if `docker info` fails
# shellcheck source=scripts/lib-dockerd.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-dockerd.sh"
if ! start_dockerd_if_needed; then
    log "no Docker daemon (Debian: apt-get update && apt-get install -y docker.io; log: /tmp/dockerd.log)"
    exit 1
fi

if [ "${FORCE:-0}" != 1 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
    log "$IMAGE already exists locally; nothing to do (FORCE=1 to rebuild)"
    exit 0
fi

# 1. Debian 12 root filesystem from the configured mirror (~60 s on 2 cores)
if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    apt-get install -y debootstrap >/dev/null
fi
if [ -z "${MIRROR:-}" ]; then
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        MIRROR=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    fi
    MIRROR=${MIRROR:-http://deb.debian.org/debian}
fi

if [ "${KEEP_ROOTFS:-0}" != 1 ]; then
    trap 'rm -rf "$ROOTFS"' EXIT
fi

log "debootstrap bookworm into $ROOTFS from $MIRROR"
rm -rf "$ROOTFS"
debootstrap --variant=minbase \
    --include=python3,python3-venv,python3-dev,gcc,libc6-dev,ca-certificates \
    bookworm "$ROOTFS" "$MIRROR"

# 2. Make it behave like the official image (~5 s)
#    same apt sources as the host (main + updates + security)
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    cp /etc/apt/sources.list.d/debian.sources "$ROOTFS/etc/apt/sources.list.d/"
    rm -f "$ROOTFS/etc/apt/sources.list"
fi
#    trust the machine's extra CA certificates (needed for HTTPS from containers)
if [ -d /usr/local/share/ca-certificates ]; then
    cp -r /usr/local/share/ca-certificates/. "$ROOTFS/usr/local/share/ca-certificates/"
fi
chroot "$ROOTFS" update-ca-certificates
#    turn /usr/local into a venv: /usr/local/bin/{python,python3,pip,pip3} like
#    the official image, and plain `pip install` works (PEP 668 doesn't apply)
chroot "$ROOTFS" python3 -m venv /usr/local
#    slim it down: empty apt lists like the official image; no docs or locales
chroot "$ROOTFS" apt-get clean
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin \
       "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* \
       "$ROOTFS"/usr/share/info/* "$ROOTFS"/usr/share/locale/* "$ROOTFS"/tmp/*
: > "$ROOTFS/etc/resolv.conf"
PYV=$(chroot "$ROOTFS" python3 -c 'import platform; print(platform.python_version())')

# 3. Import it under the official name (~5 s)
log "importing as $IMAGE (Python $PYV)"
tar -C "$ROOTFS" -c . | docker import \
    --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change "ENV PYTHON_VERSION=$PYV" \
    --change 'CMD ["python3"]' \
    - "$IMAGE"

docker run --rm "$IMAGE" sh -c 'which python pip gcc; python -V; pip -V'
log "done: $IMAGE is a local stand-in (Python $PYV, not 3.12)"
