#!/usr/bin/env bash
# Installs Chromium from Debian's packages for the browser tests (needs root or sudo once; a no-op
# when present). The tests drive it with playwright-core through its executable, EW_CHROMIUM or
# /usr/bin/chromium; nothing is downloaded at test time.
EW_STEP=chromium
source "$(dirname "$0")/lib.sh"

bin="${EW_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$bin" ]; then
  ew_log "Chromium already installed: $("$bin" --version 2>/dev/null | head -1)"; exit 0
fi
ew_apt chromium
[ -x "$bin" ] || ew_die "chromium still not at $bin after install"
ew_log "Chromium installed: $("$bin" --version 2>/dev/null | head -1)"
