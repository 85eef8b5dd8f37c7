#!/usr/bin/env bash
# Installs the command-line clients bench/bridge runs as its baseline: mosquitto_sub (Debian's
# mosquitto-clients) piped into kcat. A no-op when both are present.
EW_STEP=clients
source "$(dirname "$0")/lib.sh"

if command -v mosquitto_sub >/dev/null && command -v kcat >/dev/null; then
  ew_log "mosquitto_sub and kcat already installed: $(kcat -V 2>/dev/null | head -1)"; exit 0
fi
ew_apt mosquitto-clients kcat
command -v mosquitto_sub >/dev/null && command -v kcat >/dev/null || ew_die "mosquitto_sub or kcat still not on PATH after install"
ew_log "installed: $(kcat -V 2>/dev/null | head -1)"
