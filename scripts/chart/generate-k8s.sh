#!/usr/bin/env bash
# Renders k8s/base (plain manifests for kustomize) from charts/integration-manager with the fixed
# values of k8s/helm-values.yaml. The overlays in k8s/overlays are written by hand.
#   scripts/chart/generate-k8s.sh           regenerate k8s/base
#   scripts/chart/generate-k8s.sh --check   exit 1 if the committed k8s/base differs from a fresh render
# Needs the helm binary that scripts/chart/check.sh builds (or HELM=/path/to/helm).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
tools="${IM_TOOLS_DIR:-$root/.infra/tools}"
helm="${HELM:-$tools/bin/helm}"
kube_version="${IM_KUBE_VERSION:-1.34.0}"
if [[ ! -x "$helm" ]]; then
  echo "generate-k8s: no helm at $helm; run \`npm run chart:check\` first (it builds helm into $tools/bin)." >&2
  exit 1
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$helm" template integration-manager "$root/charts/integration-manager" \
  --namespace integration-manager --kube-version "$kube_version" --skip-tests \
  -f "$root/k8s/helm-values.yaml" >"$tmp/rendered.yaml"
node "$root/scripts/chart/split-k8s.mjs" "$tmp/rendered.yaml" "$tmp/base" >/dev/null

if [[ "${1:-}" == "--check" ]]; then
  if ! diff -ru "$root/k8s/base" "$tmp/base" >"$tmp/diff.txt"; then
    head -n 60 "$tmp/diff.txt" >&2
    echo "generate-k8s: k8s/base is out of date with the chart; run \`npm run k8s:generate\` and commit k8s/." >&2
    exit 1
  fi
  echo "generate-k8s: k8s/base is in sync with the chart"
else
  rm -rf "$root/k8s/base"
  cp -r "$tmp/base" "$root/k8s/base"
  echo "generate-k8s: wrote k8s/base ($(find "$root/k8s/base" -type f | wc -l) files)"
fi
