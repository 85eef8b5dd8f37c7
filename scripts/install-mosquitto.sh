#!/usr/bin/env bash
# Installs Mosquitto from Debian's packages (needs root or sudo once; a no-op when present).
EW_STEP=mosquitto
source "$(dirname "$0")/lib.sh"

if command -v mosquitto >/dev/null && command -v mosquitto_passwd >/dev/null; then
  ew_log "Mosquitto already installed: $(mosquitto -h 2>/dev/null | head -1)"; exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || ew_die "Mosquitto is missing and this user cannot install packages: run 'apt-get install mosquitto' as root"
  sudo="sudo"
fi
ew_log "installing mosquitto from Debian's packages"
# The package would start a system-wide broker on :1883; edgewave starts its own, so keep it off.
$sudo env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends mosquitto \
  || { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends mosquitto; }
command -v mosquitto >/dev/null || ew_die "mosquitto still not on PATH after install"
ew_log "Mosquitto installed: $(mosquitto -h 2>/dev/null | head -1)"
