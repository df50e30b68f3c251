#!/usr/bin/env bash
# Show whether each component of the test infrastructure runs and answers.
# Exit status: 0 if all are up and healthy, 1 otherwise.
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

rc=0
report() { printf '%-9s %-8s %s\n' "$1" "$2" "$3"; [[ "$2" == up ]] || rc=1; }

# PostgreSQL
if pg_running && pg_isready -q -h "$IM_HOST" -p "$IM_PG_PORT" -t 2; then
  detail="$IM_HOST:$IM_PG_PORT"
  if [[ -f "$IM_INFRA_DIR/env" ]]; then
    # shellcheck disable=SC2016
    if bash -c '. "$1" && psql -X -q -At "$PG_URL" -c "select 1"' _ "$IM_INFRA_DIR/env" >/dev/null 2>&1; then
      detail+=" (login as im_test ok)"
    else
      detail+=" (login as im_test FAILED)"; rc=1
    fi
  fi
  report postgres up "$detail"
elif pg_running; then
  report postgres down "cluster running but $IM_HOST:$IM_PG_PORT does not answer"
else
  report postgres down "log: $PG_LOG_SYSTEM"
fi

# Kafka
if pid_alive "$KAFKA_PID" "$KAFKA_MARKER"; then
  if kafka_probe kafka-ready 2>/dev/null; then
    report kafka up "$IM_HOST:$IM_KAFKA_PORT pid $(cat "$KAFKA_PID") (SCRAM login as $IM_KAFKA_ADMIN_USER, ApiVersions+Metadata ok)"
  else
    report kafka starting "pid $(cat "$KAFKA_PID") alive but $IM_HOST:$IM_KAFKA_PORT not answering; log: $KAFKA_LOG"
  fi
else
  report kafka down "log: $KAFKA_LOG"
fi

# s3proxy
if pid_alive "$S3_PID" "$S3_MARKER"; then
  if [[ -s "$IM_INFRA_DIR/s3-secret-key" ]] && s3_cli ls "$IM_S3_BUCKET" >/dev/null 2>&1; then
    report s3 up "http://$IM_HOST:$IM_S3_PORT pid $(cat "$S3_PID") (signed list of $IM_S3_BUCKET ok)"
  else
    report s3 starting "pid $(cat "$S3_PID") alive but signed request failed; log: $S3_LOG"
  fi
else
  report s3 down "log: $S3_LOG"
fi

[[ -f "$IM_INFRA_DIR/env" ]] && echo "env: . $IM_INFRA_DIR/env"
exit "$rc"
