#!/usr/bin/env bash
# Installs every server and tool the integration tests use: Kafka, Mosquitto, FerretDB, MinIO,
# Chromium for the browser tests, helm for the chart's tests, and mosquitto_sub and kcat for
# bench/bridge's baseline.
# Idempotent and cached under $EW_CACHE (default ~/.cache/edgewave); safe to re-run.
EW_STEP=servers
source "$(dirname "$0")/lib.sh"
dir="$(dirname "$0")"
start=$(date +%s)
bash "$dir/install-mosquitto.sh"
bash "$dir/install-chromium.sh"
bash "$dir/install-mqtt-kafka-clients.sh"
# The builds download from different registries; run them side by side.
pids=()
bash "$dir/install-kafka.sh" & pids+=($!)
bash "$dir/install-ferretdb.sh" & pids+=($!)
bash "$dir/install-minio.sh" & pids+=($!)
bash "$dir/install-helm.sh" & pids+=($!)
fail=0
for p in "${pids[@]}"; do wait "$p" || fail=1; done
[ "$fail" = 0 ] || ew_die "a server failed to install; its messages are above"
ew_log "all servers installed in $(( $(date +%s) - start ))s (cache: $EW_CACHE)"
