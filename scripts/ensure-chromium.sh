#!/usr/bin/env bash
# Make sure Debian's chromium is installed for the web console's browser tests (tests/test_ui_browser.py),
# which drive it through Playwright's `executable_path`. Never `playwright install`: that downloads a
# browser build, which this network cannot reach. Idempotent: does nothing when /usr/bin/chromium exists.
set -euo pipefail

[ -x /usr/bin/chromium ] && exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "ensure-chromium: installing chromium (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
# The lock timeout queues behind another apt run (ensure-docker.sh may be installing too).
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends chromium >/dev/null
