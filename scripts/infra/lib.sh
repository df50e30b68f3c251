# shellcheck shell=bash disable=SC2034
# Shared helpers for scripts/infra/{up,down,status}.sh. Sourced, not executed.
#
# Everything here is for local development and CI test runs only: it binds to
# loopback, keeps its state under $IM_INFRA_DIR and generates its secrets on
# first use (nothing secret is committed).

set -euo pipefail

INFRA_SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$INFRA_SCRIPTS_DIR/../.." && pwd)"

export IM_INFRA_DIR="${IM_INFRA_DIR:-$REPO_ROOT/.infra}"
mkdir -p "$IM_INFRA_DIR"
IM_INFRA_DIR="$(cd "$IM_INFRA_DIR" && pwd)"

# Ports (loopback only).
IM_PG_PORT="${IM_PG_PORT:-5432}"
IM_KAFKA_PORT="${IM_KAFKA_PORT:-9092}"
IM_KAFKA_CONTROLLER_PORT="${IM_KAFKA_CONTROLLER_PORT:-9093}"
IM_S3_PORT="${IM_S3_PORT:-9000}"
IM_HOST=127.0.0.1

# Pinned versions (override with env if you must).
IM_PG_VERSION="${IM_PG_VERSION:-15}"
IM_PG_CLUSTER="${IM_PG_CLUSTER:-main}"
IM_KAFKA_VERSION="${IM_KAFKA_VERSION:-4.1.1}"
IM_LOG4J_VERSION="${IM_LOG4J_VERSION:-2.24.3}"
IM_S3PROXY_VERSION="${IM_S3PROXY_VERSION:-4.1.0}"
IM_MVN_DEP_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

IM_S3_BUCKET="${IM_S3_BUCKET:-im-test}"
IM_S3_REGION="${IM_S3_REGION:-us-east-1}"

# Per-service least-privilege roles/databases (plus the im_test role/db).
IM_PG_SERVICE_DBS=(im_auth im_jobconfig im_files)

# Kafka SASL/SCRAM principals (docs/adr/0017-kafka-sasl-and-acls.md): the admin (super user: tests,
# topic/ACL setup, scripts), one per service (ACLs per topic prefix, applied by the setup step), and a
# read-only consumer of the public job-status topic. "service:user" each; the service part names the
# env variables (KAFKA_<SERVICE>_USERNAME / _PASSWORD).
IM_KAFKA_SASL_MECHANISM=SCRAM-SHA-512
IM_KAFKA_ADMIN_USER=im-admin
IM_KAFKA_USERS=(auth:im-auth jobconfig:im-jobconfig file_storage:im-file-storage job_runner:im-job-runner events:im-events)
# The broker's own principal on the controller listener (SASL/PLAIN, a static user in server.properties).
IM_KAFKA_CONTROLLER_USER=im-controller

# Seconds to wait for a component to become ready.
IM_START_TIMEOUT="${IM_START_TIMEOUT:-120}"

PYHELPER="$INFRA_SCRIPTS_DIR/infra_helper.py"

log()  { printf '[infra] %s\n' "$*" >&2; }
die()  { printf '[infra] ERROR: %s\n' "$*" >&2; exit 1; }

now()  { date +%s.%N; }
# elapsed START -> seconds with one decimal
elapsed() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.1f", e - s }'; }

# Serialise concurrent up/down runs on the same IM_INFRA_DIR.
# Children that outlive the script (postgres, java) must not inherit fd 9:
# start them with 9>&-, or the lock stays held.
take_lock() {
  exec 9>"$IM_INFRA_DIR/.lock"
  if ! flock -w 300 9; then die "another infra script holds $IM_INFRA_DIR/.lock"; fi
}

# port_open PORT -> 0 if something accepts TCP connections on 127.0.0.1:PORT
port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/$IM_HOST/$1" 2>/dev/null
}

# pid_alive PIDFILE MARKER -> 0 if the pid in PIDFILE runs and its command line
# contains MARKER (guards against pid reuse).
pid_alive() {
  local pidfile="$1" marker="$2" pid
  [[ -s "$pidfile" ]] || return 1
  pid="$(cat "$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$marker"
}

# stop_pid NAME PIDFILE MARKER: SIGTERM, wait up to 30 s, then SIGKILL.
stop_pid() {
  local name="$1" pidfile="$2" marker="$3" pid i
  if ! pid_alive "$pidfile" "$marker"; then
    rm -f "$pidfile"
    log "$name: not running"
    return 0
  fi
  pid="$(cat "$pidfile")"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    pid_alive "$pidfile" "$marker" || break
    sleep 0.1
  done
  if pid_alive "$pidfile" "$marker"; then
    log "$name: still running after 30 s, sending SIGKILL to $pid"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$pidfile"
  log "$name: stopped (pid $pid)"
}

# Run maven with the infra-local repository, so downloads are cached in
# $IM_INFRA_DIR/m2 and nothing depends on ~/.m2.
# Output goes to $IM_INFRA_DIR/mvn.log and is shown only on failure.
mvn_infra() {
  command -v mvn >/dev/null || die "mvn (Maven) is required"
  if ! mvn -B -ntp -Dstyle.color=never -Dmaven.repo.local="$IM_INFRA_DIR/m2" "$@" >"$IM_INFRA_DIR/mvn.log" 2>&1 </dev/null 9>&-; then
    tail -n 40 "$IM_INFRA_DIR/mvn.log" >&2
    return 1
  fi
}

# A file holding a generated secret, created once with mode 600.
# secret_file PATH KIND  (KIND: pg-password | s3-access-key | s3-secret-key)
secret_file() {
  local path="$1" kind="$2"
  if [[ ! -s "$path" ]]; then
    (umask 077 && python3 "$PYHELPER" gen-secret "$kind" >"$path.tmp" && mv "$path.tmp" "$path")
  fi
  chmod 600 "$path"
  cat "$path"
}

pg_password() {
  if [[ -n "${IM_PG_PASSWORD:-}" ]]; then
    printf '%s' "$IM_PG_PASSWORD"
  else
    secret_file "$IM_INFRA_DIR/pg-password" pg-password
  fi
}
# kafka_password USER: the generated SCRAM password of a Kafka principal (kept in $IM_INFRA_DIR, 600).
kafka_password_file() { printf '%s' "$IM_INFRA_DIR/kafka-$1-password"; }
kafka_password() { secret_file "$(kafka_password_file "$1")" kafka-password; }
s3_access_key() { secret_file "$IM_INFRA_DIR/s3-access-key" s3-access-key; }
s3_secret_key() { secret_file "$IM_INFRA_DIR/s3-secret-key" s3-secret-key; }

# Writes $IM_INFRA_DIR/env (mode 600): export lines for the tests.
write_env_file() {
  local pw pwq ak sk f="$IM_INFRA_DIR/env"
  pw="$(pg_password)"
  pwq="$(python3 "$PYHELPER" urlquote "$pw")"
  ak="$(s3_access_key)"
  sk="$(s3_secret_key)"
  (
    umask 077
    {
      echo "# Generated by scripts/infra/up.sh: test-only infrastructure on loopback."
      echo "# Usage: set -a; . \"$f\"; set +a   (or just: . \"$f\")"
      printf 'export IM_INFRA_DIR=%q\n' "$IM_INFRA_DIR"
      printf 'export PG_URL=%q\n' "postgres://im_test:$pwq@$IM_HOST:$IM_PG_PORT/im_test"
      local db
      for db in "${IM_PG_SERVICE_DBS[@]}"; do
        local var="${db#im_}"; var="${var^^}_PG_URL"
        printf 'export %s=%q\n' "$var" "postgres://$db:$pwq@$IM_HOST:$IM_PG_PORT/$db"
      done
      printf 'export KAFKA_BROKERS=%q\n' "$IM_HOST:$IM_KAFKA_PORT"
      # The admin principal (super user) for tests and scripts; each service's own principal below.
      printf 'export KAFKA_SASL_MECHANISM=%q\n' "${IM_KAFKA_SASL_MECHANISM,,}"
      printf 'export KAFKA_SASL_USERNAME=%q\n' "$IM_KAFKA_ADMIN_USER"
      printf 'export KAFKA_SASL_PASSWORD=%q\n' "$(kafka_password "$IM_KAFKA_ADMIN_USER")"
      local entry svc user
      for entry in "${IM_KAFKA_USERS[@]}"; do
        svc="${entry%%:*}"; user="${entry#*:}"
        printf 'export KAFKA_%s_USERNAME=%q\n' "${svc^^}" "$user"
        printf 'export KAFKA_%s_PASSWORD=%q\n' "${svc^^}" "$(kafka_password "$user")"
      done
      printf 'export S3_ENDPOINT=%q\n' "http://$IM_HOST:$IM_S3_PORT"
      printf 'export S3_ACCESS_KEY=%q\n' "$ak"
      printf 'export S3_SECRET_KEY=%q\n' "$sk"
      printf 'export S3_BUCKET=%q\n' "$IM_S3_BUCKET"
      printf 'export S3_REGION=%q\n' "$IM_S3_REGION"
      # Where each component runs, so a later down.sh/up.sh of one component (the fault-injection
      # suite) acts on this instance and not on the defaults.
      local v
      for v in IM_PG_CLUSTER IM_PG_PORT IM_KAFKA_PORT IM_KAFKA_CONTROLLER_PORT IM_S3_PORT; do
        printf 'export %s=%q\n' "$v" "${!v}"
      done
    } >"$f.tmp"
    mv "$f.tmp" "$f"
  )
  chmod 600 "$f"
}

# ---------------------------------------------------------------- layout
KAFKA_DIR="$IM_INFRA_DIR/kafka"
KAFKA_LIB="$KAFKA_DIR/lib-$IM_KAFKA_VERSION-log4j-$IM_LOG4J_VERSION"
KAFKA_PID="$IM_INFRA_DIR/kafka.pid"
KAFKA_LOG="$IM_INFRA_DIR/kafka.log"          # log4j2 file: WARN+ and the "started" line
KAFKA_STDOUT="$IM_INFRA_DIR/kafka.stdout.log" # JVM stdout/stderr (crashes, GC warnings)
KAFKA_MARKER="-Dim.infra.component=kafka"

S3_DIR="$IM_INFRA_DIR/s3proxy"
S3_JAR="$S3_DIR/s3proxy-$IM_S3PROXY_VERSION-jar-with-dependencies.jar"
S3_DATA="$IM_INFRA_DIR/s3data"
S3_PID="$IM_INFRA_DIR/s3proxy.pid"
S3_LOG="$IM_INFRA_DIR/s3proxy.log"
S3_MARKER="-Dim.infra.component=s3proxy"

PG_CONF_DIR="/etc/postgresql/$IM_PG_VERSION/$IM_PG_CLUSTER"
PG_LOG_SYSTEM="/var/log/postgresql/postgresql-$IM_PG_VERSION-$IM_PG_CLUSTER.log"

# Run a command as the postgres OS user (these scripts normally run as root).
as_postgres() {
  if [[ "$(id -u)" == 0 ]]; then
    runuser -u postgres -- "$@"
  elif [[ "$(id -un)" == postgres ]]; then
    "$@"
  else
    sudo -n -u postgres -- "$@"
  fi
}

# pg_ctlcluster needs root (or the postgres user); --skip-systemctl-redirect
# keeps it from handing over to systemd when systemd happens to be PID 1.
pg_ctl_cluster() {
  local action="$1"; shift
  if [[ "$(id -u)" == 0 || "$(id -un)" == postgres ]]; then
    pg_ctlcluster --skip-systemctl-redirect "$IM_PG_VERSION" "$IM_PG_CLUSTER" "$action" "$@"
  else
    sudo -n pg_ctlcluster --skip-systemctl-redirect "$IM_PG_VERSION" "$IM_PG_CLUSTER" "$action" "$@"
  fi
}

pg_running() {
  [[ -f "$PG_CONF_DIR/postgresql.conf" ]] || return 1
  pg_ctl_cluster status >/dev/null 2>&1
}

# kafka_probe CMD [ARGS]: infra_helper.py's Kafka probes, authenticated as the admin principal
# (the password goes by file, never on a command line).
kafka_probe() {
  local cmd="$1"; shift
  python3 "$PYHELPER" "$cmd" "$IM_HOST" "$IM_KAFKA_PORT" "$@" \
    --sasl "$IM_KAFKA_ADMIN_USER" "$(kafka_password_file "$IM_KAFKA_ADMIN_USER")"
}

s3_cli() {
  python3 "$PYHELPER" s3 "http://$IM_HOST:$IM_S3_PORT" "$IM_S3_REGION" "$(s3_access_key)" "$(s3_secret_key)" "$@"
}
