#!/usr/bin/env bash
# Builds MinIO (S3-compatible server) with `go install` into $EW_CACHE/bin/minio.
# The first build takes several minutes; later runs find the cached binary.
EW_STEP=minio
source "$(dirname "$0")/lib.sh"

# Pinned so that a cold machine builds what the tests were run against.
MINIO_VERSION="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
bin="$EW_CACHE/bin/minio"
if ew_have "$EW_CACHE/bin/.minio-installed" && [ -x "$bin" ]; then
  ew_log "MinIO already built: $bin ($(cat "$EW_CACHE/bin/.minio-installed"))"; exit 0
fi
command -v go >/dev/null || ew_die "go not found: install Go 1.24 or newer"
ew_log "building MinIO ($MINIO_VERSION) with go install: a few minutes on first run"
mkdir -p "$EW_CACHE/bin"
GOBIN="$EW_CACHE/bin" go install "github.com/minio/minio@$MINIO_VERSION"
echo "$MINIO_VERSION" > "$EW_CACHE/bin/.minio-installed"
ew_log "MinIO built: $(cat "$EW_CACHE/bin/.minio-installed")"
