#!/usr/bin/env bash
# Stop the test infrastructure started by up.sh. Data and downloads stay in
# $IM_INFRA_DIR, so the next up.sh is a warm start.
#
#   scripts/infra/down.sh [postgres|kafka|s3|all]... [--purge]
#
# --purge also deletes Kafka's and s3proxy's data (not the downloads, not the
# generated secrets, not the PostgreSQL cluster).
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

down_kafka() { stop_pid kafka "$KAFKA_PID" "$KAFKA_MARKER"; }
down_s3()    { stop_pid s3proxy "$S3_PID" "$S3_MARKER"; }
down_postgres() {
  if pg_running; then
    pg_ctl_cluster stop -m fast
    log "postgres: stopped"
  else
    log "postgres: not running"
  fi
  rm -f "$IM_INFRA_DIR/postgres.pid"
}

main() {
  local want=() purge=0 c
  for c in "$@"; do
    case "$c" in
      --purge) purge=1 ;;
      postgres|kafka|s3|all) want+=("$c") ;;
      *) die "usage: $0 [postgres|kafka|s3|all]... [--purge]" ;;
    esac
  done
  ((${#want[@]})) || want=(all)
  [[ " ${want[*]} " == *" all "* ]] && want=(kafka s3 postgres)
  take_lock
  for c in "${want[@]}"; do "down_$c"; done
  if ((purge)); then
    for c in "${want[@]}"; do
      case "$c" in
        kafka) rm -rf "$KAFKA_DIR/data" "$KAFKA_DIR/cluster-id"; log "kafka: data purged" ;;
        s3) rm -rf "$S3_DATA"; log "s3: data purged" ;;
      esac
    done
  fi
}

main "$@"
