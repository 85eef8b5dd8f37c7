#!/usr/bin/env bash
# Builds helm from the Go module proxy into $EW_CACHE/bin, for the chart's tests (`helm lint`,
# `helm template`). Nothing is downloaded at test time; a present binary of the pinned version is
# reused.
EW_STEP=helm
source "$(dirname "$0")/lib.sh"

version="v3.22.0"
# What helm's own Makefile stamps in: its version, and the Kubernetes version it assumes without a
# cluster (that of its k8s.io/client-go v0.37: 1.37). A plain `go install` would leave 1.20.
kube_major=1 kube_minor=37
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$version"
for pkg in pkg/lint/rules pkg/chartutil; do
  ldflags+=" -X helm.sh/helm/v3/$pkg.k8sVersionMajor=$kube_major -X helm.sh/helm/v3/$pkg.k8sVersionMinor=$kube_minor"
done
bin="$EW_CACHE/bin/helm-$version-k$kube_major.$kube_minor"
if [ -x "$bin" ]; then ew_log "helm already built: $bin"; ln -sf "$bin" "$EW_CACHE/bin/helm"; exit 0; fi
command -v go >/dev/null || ew_die "go not found: install Go 1.24 or newer"
ew_log "building helm $version with go install (a few minutes on first run)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
GOBIN="$tmp" go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$version"
mkdir -p "$EW_CACHE/bin"
mv "$tmp/helm" "$bin"
ln -sf "$bin" "$EW_CACHE/bin/helm"
ew_log "helm built: $("$bin" version --short)"
