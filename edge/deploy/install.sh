#!/usr/bin/env bash
# Installs the edgewave edge agent on a gateway: the bundle and its .wasm files into
# /opt/edgewave-edge, a config into /etc/edgewave (kept if present), a system user, and the
# systemd unit, then enables and starts it. Needs Node.js >= 20.19 on the gateway.
#
#   sudo ./install.sh [bundle-dir]            bundle-dir holds edgewave-edge.mjs and the .wasm files
#   DESTDIR=/tmp/root NO_SYSTEMCTL=1 ./install.sh   lay the files out under DESTDIR only
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
bundle="${1:-$here}"
dest="${DESTDIR:-}"

die() { echo "install.sh: $*" >&2; exit 1; }
[ -f "$bundle/edgewave-edge.mjs" ] || die "no edgewave-edge.mjs in $bundle (build it with: npm run bundle:edge)"
for f in dsp.wasm dsp.simd.wasm; do [ -f "$bundle/$f" ] || die "no $f beside the bundle in $bundle"; done
if [ -z "$dest" ]; then
  [ "$(id -u)" = 0 ] || die "run as root (or set DESTDIR to lay the files out elsewhere)"
  command -v node >/dev/null || die "Node.js is not installed: install Node.js 20.19 or newer"
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
    || die "Node.js $(node --version) is too old: 20.19 or newer is needed"
fi

install -d -m 0755 "$dest/opt/edgewave-edge" "$dest/etc/edgewave" "$dest/etc/systemd/system"
install -m 0644 "$bundle/edgewave-edge.mjs" "$bundle/dsp.wasm" "$bundle/dsp.simd.wasm" "$dest/opt/edgewave-edge/"
if [ ! -f "$dest/etc/edgewave/edge.yaml" ]; then
  install -m 0640 "$here/edge.example.yaml" "$dest/etc/edgewave/edge.yaml"
  echo "install.sh: wrote $dest/etc/edgewave/edge.yaml from the example: edit gatewayId, mqtt and sources"
else
  echo "install.sh: kept the existing $dest/etc/edgewave/edge.yaml"
fi
install -m 0644 "$here/edgewave-edge.service" "$dest/etc/systemd/system/edgewave-edge.service"

if [ -z "$dest" ]; then
  id edgewave >/dev/null 2>&1 || useradd --system --home /var/lib/edgewave --shell /usr/sbin/nologin edgewave
  chgrp edgewave /etc/edgewave/edge.yaml
  install -d -m 0750 -o edgewave -g edgewave /var/lib/edgewave
  node /opt/edgewave-edge/edgewave-edge.mjs --config /etc/edgewave/edge.yaml --check \
    || die "the config does not validate; fix /etc/edgewave/edge.yaml and run install.sh again"
fi
if [ -z "${NO_SYSTEMCTL:-}" ] && [ -z "$dest" ]; then
  systemctl daemon-reload
  systemctl enable --now edgewave-edge.service
  echo "install.sh: edgewave-edge is running: systemctl status edgewave-edge; journalctl -u edgewave-edge -f"
else
  echo "install.sh: files are in place under ${dest:-/}; start with: systemctl enable --now edgewave-edge"
fi
