# Shared helpers for the server scripts: one cache directory, logging, idempotent steps.
# Sourced, not run.

set -euo pipefail

EW_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Everything downloaded or built for development servers lives here, so a re-run is cheap
# and `rm -rf` of this one folder is a full reset.
EW_CACHE="${EW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/edgewave}"
mkdir -p "$EW_CACHE"

# Go: module and build caches inside EW_CACHE. The checksum database (sum.golang.org) is not
# reachable from every build machine while the module proxy is, so it is off unless GOSUMDB is set;
# the go.sum files (scripts/ferretdb's, and MinIO's own for `go install`) still pin every hash.
export GOMODCACHE="$EW_CACHE/go/mod"
export GOCACHE="$EW_CACHE/go/build"
export GOPATH="$EW_CACHE/go/path"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
export GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}"
if [ -z "${GOSUMDB:-}" ]; then export GOSUMDB=off; fi
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

ew_log() { printf '[edgewave:%s] %s\n' "${EW_STEP:-scripts}" "$*" >&2; }
ew_die() { ew_log "error: $*"; exit 1; }

# ew_have FILE: true when a previous run left FILE (a finished build marker).
ew_have() { [ -s "$1" ]; }

# ew_apt PACKAGE...: installs Debian packages (root or sudo), refreshing the package lists once if
# the first attempt fails. The Debian packages that start a system-wide service are installed with
# RUNLEVEL=1 so that they stay off: edgewave starts its own servers.
ew_apt() {
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || ew_die "$* missing and this user cannot install packages: run 'apt-get install $*' as root"
    sudo="sudo"
  fi
  ew_log "installing $* from Debian's packages"
  $sudo env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends "$@" \
    || { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends "$@"; }
}
