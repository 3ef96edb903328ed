#!/usr/bin/env bash
# Build the emulator's base image from Debian packages alone: bootstrap.sh TAG
#
# Where a container registry is reachable the framework images simply start FROM python:3.11-slim.
# Where none is (no image can be pulled), emulator/runtime/images.py calls this script instead: it
# debootstraps Debian bookworm (whose python3 is 3.11, so host-built cp311 wheels install in it)
# with python3, pip and venv, and imports the tree as a one-layer image. Needs root and debootstrap
# (scripts/ensure-docker.sh installs it). The image tag carries a hash of this folder, so editing
# this file is what makes a new base.
set -euo pipefail

TAG=${1:?usage: bootstrap.sh IMAGE_TAG}
SUITE=${DEBIAN_SUITE:-bookworm}
PACKAGES=python3,python3-venv,python3-pip,python-is-python3,ca-certificates

say() { echo "[base] $*"; }

# Use the mirror this machine's apt already uses (it is known to be reachable); deb.debian.org otherwise.
host_mirror() {
    local uri
    uri=$(grep -hE '^\s*URIs:\s*\S+/debian/?\s*$' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | head -n1 || true)
    if [ -z "$uri" ]; then
        uri=$(grep -hE '^\s*deb\s+(\[[^]]*\]\s+)?\S+/debian/?\s' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | sed -E 's/^\s*deb\s+(\[[^]]*\]\s+)?//' | awk '{print $1}' | head -n1 || true)
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}
MIRROR=${DEBIAN_MIRROR:-$(host_mirror)}
MIRROR=${MIRROR%/}

[ "$(id -u)" -eq 0 ] || { echo "[base] ERROR: debootstrap needs root" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "[base] ERROR: debootstrap is missing (run scripts/ensure-docker.sh)" >&2; exit 1; }

WORK=$(mktemp -d /var/tmp/sagemaker-emulator-base.XXXXXX)
ROOT=$WORK/rootfs
cleanup() {
    # debootstrap mounts /proc and /sys inside the target; never rm -rf through a live mount.
    for m in proc sys dev/pts dev; do umount -l "$ROOT/$m" 2>/dev/null || true; done
    rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

say "debootstrap $SUITE (minbase + $PACKAGES) from $MIRROR"
if ! debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
    tail -n 30 "$WORK/debootstrap.log" >&2
    [ -f "$ROOT/debootstrap/debootstrap.log" ] && tail -n 30 "$ROOT/debootstrap/debootstrap.log" >&2
    echo "[base] ERROR: debootstrap failed" >&2
    exit 1
fi

say "configuring the tree"
# apt inside job containers should see updates and security fixes, like python:3.11-slim's does.
cat >"$ROOT/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb http://deb.debian.org/debian-security $SUITE-security main
EOF
# PEP 668 marker: user code (requirements.txt, `pip install` in processing scripts) installs into
# the system interpreter in SageMaker containers, so pip must not refuse to.
rm -f "$ROOT"/usr/lib/python3*/EXTERNALLY-MANAGED
# Same trimming python:*-slim does: caches, package lists, docs, man pages, locales.
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/log/* \
       "$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/* "$ROOT"/usr/share/info/* "$ROOT"/debootstrap
find "$ROOT/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} +
# The engine provides these at run time; device nodes in a layer only cause trouble.
rm -rf "${ROOT:?}"/dev/* "${ROOT:?}"/proc/* "${ROOT:?}"/sys/* "${ROOT:?}"/tmp/* "${ROOT:?}"/run/*

say "importing as $TAG"
tar --numeric-owner -C "$ROOT" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    --message "sagemaker-emulator base: debootstrap $SUITE + python3" \
    - "$TAG" >/dev/null
say "done: $TAG"
