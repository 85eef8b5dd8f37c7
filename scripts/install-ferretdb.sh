#!/usr/bin/env bash
# Builds edgewave's FerretDB v1 runner (scripts/ferretdb: FerretDB with its pure-Go SQLite backend)
# into $EW_CACHE/bin. A plain `go install` of FerretDB's own cmd panics without its version file,
# so the project embeds the `ferretdb` package in a program of its own.
EW_STEP=ferretdb
source "$(dirname "$0")/lib.sh"

src="$EW_ROOT/scripts/ferretdb"
# The build is keyed by the runner's sources, so a change to them rebuilds.
key="$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-12)"
bin="$EW_CACHE/bin/ferretdb-$key"
if [ -x "$bin" ]; then ew_log "FerretDB runner already built: $bin"; ln -sf "$bin" "$EW_CACHE/bin/ferretdb"; exit 0; fi
command -v go >/dev/null || ew_die "go not found: install Go 1.24 or newer"
ew_log "building FerretDB runner (about a minute on first run)"
mkdir -p "$EW_CACHE/bin"
(cd "$src" && go build -trimpath -o "$bin.tmp" .)
mv "$bin.tmp" "$bin"
ln -sf "$bin" "$EW_CACHE/bin/ferretdb"
ew_log "FerretDB runner built: $bin ($(sed -n 's/^require github.com\/FerretDB\/FerretDB //p' "$src/go.mod"))"
