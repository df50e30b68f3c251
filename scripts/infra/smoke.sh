#!/usr/bin/env bash
# Smoke-test the running infrastructure (run up.sh first):
#  - PostgreSQL: im_test and each service role log in over TCP with their password;
#    a service role cannot connect to another service's database.
#  - S3: signed PUT/GET/DELETE with the stdlib SigV4 helper (no node needed).
#  - Kafka: SCRAM login + ApiVersions + Metadata probe; Metadata without SASL is refused.
#  - If the repo's node_modules has them: kafkajs-smoke.mjs (kafkajs) and s3-smoke.mjs (@aws-sdk/client-s3).
# Exit status 0 only if every check passed.
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -f "$IM_INFRA_DIR/env" ]] || die "no $IM_INFRA_DIR/env: run scripts/infra/up.sh first"
# shellcheck disable=SC1091
. "$IM_INFRA_DIR/env"
passed=0
failed=0
check() {
  local name="$1"; shift
  if "$@"; then echo "PASS $name"; passed=$((passed + 1)); else echo "FAIL $name"; failed=$((failed + 1)); fi
}

pg_login() { [[ "$(psql -X -At "$1" -c 'select current_user' 2>&1)" == "$2" ]]; }
pg_denied() { ! PGCONNECT_TIMEOUT=5 psql -X -At "$1" -c 'select 1' >/dev/null 2>&1; }
check "postgres: im_test logs in" pg_login "$PG_URL" im_test
check "postgres: im_auth logs in" pg_login "$AUTH_PG_URL" im_auth
check "postgres: im_jobconfig logs in" pg_login "$JOBCONFIG_PG_URL" im_jobconfig
check "postgres: im_files logs in" pg_login "$FILES_PG_URL" im_files
check "postgres: im_auth cannot open im_files" pg_denied "${AUTH_PG_URL%/im_auth}/im_files"

s3_roundtrip() {
  local tmp key="infra-smoke/$$-$RANDOM.bin" rc=0
  tmp="$(mktemp)"
  head -c 200000 /dev/urandom >"$tmp"
  s3_cli put "$S3_BUCKET" "$key" "$tmp" && s3_cli get "$S3_BUCKET" "$key" | cmp -s - "$tmp" \
    && s3_cli rm "$S3_BUCKET" "$key" || rc=1
  rm -f "$tmp"
  return "$rc"
}
check "s3: signed put/get/delete (stdlib SigV4)" s3_roundtrip
check "kafka: SCRAM login, ApiVersions + Metadata" kafka_probe kafka-ready
check "kafka: Metadata without SASL is refused" python3 "$PYHELPER" kafka-anon-refused "$IM_HOST" "$IM_KAFKA_PORT"

smoke_dir="$INFRA_SCRIPTS_DIR/smoke"
resolvable() { (cd "$smoke_dir" && node -e "require.resolve('$1')" >/dev/null 2>&1); }
if command -v node >/dev/null && resolvable kafkajs; then
  check "kafkajs: admin/produce/group consume/commit/rejoin" \
    env KAFKAJS_NO_PARTITIONER_WARNING=1 node "$smoke_dir/kafkajs-smoke.mjs"
else
  echo "SKIP kafkajs smoke test (kafkajs not installed: run npm ci)"
fi
if command -v node >/dev/null && resolvable @aws-sdk/client-s3; then
  check "aws-sdk: s3 put/get/multipart" node --no-warnings "$smoke_dir/s3-smoke.mjs"
else
  echo "SKIP aws-sdk S3 smoke test (@aws-sdk/client-s3 not installed: run npm ci)"
fi

echo "infra smoke: $passed passed, $failed failed"
((failed == 0))
