#!/usr/bin/env bash
# Installs Mosquitto from Debian's packages (needs root or sudo once; a no-op when present).
EW_STEP=mosquitto
source "$(dirname "$0")/lib.sh"

if command -v mosquitto >/dev/null && command -v mosquitto_passwd >/dev/null; then
  ew_log "Mosquitto already installed: $(mosquitto -h 2>/dev/null | head -1)"; exit 0
fi
ew_apt mosquitto
command -v mosquitto >/dev/null || ew_die "mosquitto still not on PATH after install"
ew_log "Mosquitto installed: $(mosquitto -h 2>/dev/null | head -1)"
