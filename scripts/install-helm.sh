#!/usr/bin/env bash
# Builds helm from the Go module proxy into $EW_CACHE/bin, for the chart's tests (`helm lint`,
# `helm template`), and kube-strict beside it. Nothing is downloaded at test time; a present binary of the pinned version is
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
command -v go >/dev/null || ew_die "go not found: install Go 1.24 or newer"
mkdir -p "$EW_CACHE/bin"
if [ -x "$bin" ]; then
  ew_log "helm already built: $bin"
else
  ew_log "building helm $version with go install (a few minutes on first run)"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  GOBIN="$tmp" go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$version"
  mv "$tmp/helm" "$bin"
  ew_log "helm built: $("$bin" version --short)"
fi
ln -sf "$bin" "$EW_CACHE/bin/helm"

# kube-strict (scripts/kube-strict): decodes manifests into client-go's types in strict mode, so the
# chart's tests catch unknown fields in core kinds. Keyed by its sources; built from the modules
# helm's build already fetched.
src="$EW_ROOT/scripts/kube-strict"
key="$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-12)"
strict="$EW_CACHE/bin/kube-strict-$key"
if [ -x "$strict" ]; then ew_log "kube-strict already built: $strict"; ln -sf "$strict" "$EW_CACHE/bin/kube-strict"; exit 0; fi
ew_log "building kube-strict"
(cd "$src" && go build -trimpath -o "$strict.tmp" .)
mv "$strict.tmp" "$strict"
ln -sf "$strict" "$EW_CACHE/bin/kube-strict"
ew_log "kube-strict built: $strict"
