#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine, installing and starting it if needed.
#
# Used by `make test`, `make run` and `.ci/run`. Machines here are fresh (nothing installed by
# hand survives) and run no init system, so neither `systemctl start docker` nor a preinstalled
# engine can be relied on: we install Debian's docker.io and start dockerd ourselves.
# Idempotent: when `docker info` already answers it does nothing.
set -euo pipefail

DOCKERD_LOG=${DOCKERD_LOG:-/tmp/dockerd.log}
WAIT_SECONDS=${DOCKER_WAIT_SECONDS:-60}

say() { echo "ensure-docker: $*" >&2; }

engine_answers() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Install Debian packages that are missing; `apt-get update` only when something is.
# The lock timeout lets us queue behind another apt run instead of failing on its lock.
apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing ${missing[*]} (apt-get)"
    # needrestart (if present) would prompt or print noise about services we do not run.
    export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
    $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
    $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}" >/dev/null
}

# debootstrap builds the base image when no python image can be pulled (emulator/runtime/images/builder.py).
if ! command -v debootstrap >/dev/null 2>&1; then apt_install debootstrap; fi
# The SageMaker SDK's local mode (instance_type="local", LocalPipelineSession) runs containers with
# `docker compose` (plugin) or else `docker-compose`; Debian ships the latter.
if ! command -v docker-compose >/dev/null 2>&1 && ! docker compose version >/dev/null 2>&1; then
    apt_install docker-compose
fi

if engine_answers; then exit 0; fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    apt_install docker.io
fi

# Start dockerd unless one is already starting up (a second one would fail on its pid file).
if ! pgrep -x dockerd >/dev/null 2>&1; then
    say "starting dockerd (log: $DOCKERD_LOG)"
    # setsid + nohup: the daemon must outlive this script and the shell/job group that ran it.
    $SUDO setsid nohup dockerd >"$DOCKERD_LOG" 2>&1 < /dev/null &
fi

for _ in $(seq 1 "$WAIT_SECONDS"); do
    if engine_answers; then
        say "docker engine is up"
        exit 0
    fi
    sleep 1
done

say "ERROR: the Docker engine did not answer 'docker info' within ${WAIT_SECONDS}s."
say "Last lines of $DOCKERD_LOG:"
tail -n 20 "$DOCKERD_LOG" >&2 || true
exit 1
