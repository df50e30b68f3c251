#!/usr/bin/env bash
# Start the test infrastructure on loopback: PostgreSQL 15, Kafka (KRaft, single
# node) and s3proxy. Idempotent: components that already run are left alone.
#
#   scripts/infra/up.sh [postgres|kafka|s3|all]...   (default: all)
#
# Afterwards:  . "${IM_INFRA_DIR:-<repo>/.infra}/env"
# See scripts/infra/README.md.
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# ============================================================== PostgreSQL
up_postgres() {
  local t0; t0="$(now)"
  command -v pg_ctlcluster >/dev/null || die "pg_ctlcluster not found: install the Debian package postgresql-$IM_PG_VERSION"
  [[ -x "/usr/lib/postgresql/$IM_PG_VERSION/bin/postgres" ]] || die "PostgreSQL $IM_PG_VERSION server is not installed (apt-get install postgresql-$IM_PG_VERSION)"

  if [[ ! -f "$PG_CONF_DIR/postgresql.conf" ]]; then
    log "postgres: cluster $IM_PG_VERSION/$IM_PG_CLUSTER missing, creating it"
    pg_createcluster "$IM_PG_VERSION" "$IM_PG_CLUSTER" -p "$IM_PG_PORT" >/dev/null 9>&-
  fi

  # Test-only settings. fsync/synchronous_commit/full_page_writes=off trade
  # crash safety for speed: NEVER use these in production.
  local conf="$PG_CONF_DIR/conf.d/90-im-test.conf" want
  want="# Written by scripts/infra/up.sh. TEST-ONLY settings, never use in production.
listen_addresses = '127.0.0.1'
port = $IM_PG_PORT
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
"
  local changed=0
  mkdir -p "$PG_CONF_DIR/conf.d"
  if [[ ! -f "$conf" ]] || [[ "$(cat "$conf")" != "$(printf '%s' "$want")" ]]; then
    printf '%s' "$want" >"$conf"
    chown postgres:postgres "$conf" 2>/dev/null || true
    changed=1
  fi

  local state
  if pg_running; then
    if ((changed)); then
      log "postgres: settings changed, restarting"
      pg_ctl_cluster restart 9>&-
      state=restarted
    else
      state="already running"
    fi
  else
    # A stale pid file after an unclean stop is handled by pg_ctl itself.
    pg_ctl_cluster start 9>&- || { tail -n 30 "$PG_LOG_SYSTEM" >&2 || true; die "postgres: failed to start"; }
    state=started
  fi

  local deadline=$((SECONDS + IM_START_TIMEOUT))
  until pg_isready -q -h "$IM_HOST" -p "$IM_PG_PORT" -t 1; do
    if ((SECONDS >= deadline)); then
      tail -n 30 "$PG_LOG_SYSTEM" >&2 || true
      die "postgres: not accepting connections on $IM_HOST:$IM_PG_PORT after ${IM_START_TIMEOUT}s"
    fi
    sleep 0.2
  done

  # Roles and databases. Passwords go through stdin, never the command line.
  local pw pwsql sql db
  pw="$(pg_password)"
  pwsql="${pw//\'/\'\'}"
  # im_test: broad test role (may create databases and roles, e.g. one database
  # per test run) but not SUPERUSER unless IM_PG_TEST_SUPERUSER=1.
  local super=NOSUPERUSER
  [[ "${IM_PG_TEST_SUPERUSER:-0}" == 1 ]] && super=SUPERUSER
  sql="SET client_min_messages = warning;
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'im_test') THEN CREATE ROLE im_test; END IF;
END \$\$;
ALTER ROLE im_test WITH LOGIN CREATEDB CREATEROLE $super PASSWORD '$pwsql';
SELECT 'CREATE DATABASE im_test OWNER im_test' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'im_test') \\gexec
ALTER DATABASE im_test OWNER TO im_test;
REVOKE ALL ON DATABASE im_test FROM PUBLIC;
"
  # One least-privilege role + database per service: owns its database only.
  for db in "${IM_PG_SERVICE_DBS[@]}"; do
    sql+="DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$db') THEN CREATE ROLE $db; END IF;
END \$\$;
ALTER ROLE $db WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '$pwsql';
SELECT 'CREATE DATABASE $db OWNER $db' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$db') \\gexec
ALTER DATABASE $db OWNER TO $db;
REVOKE ALL ON DATABASE $db FROM PUBLIC;
"
  done
  printf '%s' "$sql" | as_postgres psql -X -q -v ON_ERROR_STOP=1 -h /var/run/postgresql -p "$IM_PG_PORT" -d postgres >/dev/null \
    || die "postgres: creating roles/databases failed"

  ln -sfn "$PG_LOG_SYSTEM" "$IM_INFRA_DIR/postgres.log"
  ln -sfn "/var/lib/postgresql/$IM_PG_VERSION/$IM_PG_CLUSTER/postmaster.pid" "$IM_INFRA_DIR/postgres.pid"
  echo "postgres: $state, ready on $IM_HOST:$IM_PG_PORT in $(elapsed "$t0") s"
}

# ============================================================== Kafka
fetch_kafka() {
  [[ -f "$KAFKA_LIB/.complete" ]] && return 0
  local t0; t0="$(now)"
  log "kafka: fetching kafka_2.13:$IM_KAFKA_VERSION + log4j $IM_LOG4J_VERSION from Maven Central"
  mkdir -p "$KAFKA_DIR"
  cat >"$KAFKA_DIR/pom.xml" <<POM
<?xml version="1.0" encoding="UTF-8"?>
<!-- Throwaway pom: only used to download the Kafka server jars. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.im.infra</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>0</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$IM_KAFKA_VERSION</version>
    </dependency>
    <!-- The published POM leaves out the logging backend; Kafka binds SLF4J 1.7. -->
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>$IM_LOG4J_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>$IM_LOG4J_VERSION</version>
    </dependency>
  </dependencies>
</project>
POM
  rm -rf "$KAFKA_LIB.tmp"
  mvn_infra -f "$KAFKA_DIR/pom.xml" "$IM_MVN_DEP_PLUGIN:copy-dependencies" \
    -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIB.tmp" \
    || die "kafka: downloading jars with Maven failed"
  [[ -f "$KAFKA_LIB.tmp/kafka_2.13-$IM_KAFKA_VERSION.jar" ]] || die "kafka: kafka_2.13 jar missing after download"
  touch "$KAFKA_LIB.tmp/.complete"
  rm -rf "$KAFKA_LIB"
  mv "$KAFKA_LIB.tmp" "$KAFKA_LIB"
  log "kafka: jars downloaded in $(elapsed "$t0") s"
}

write_kafka_config() {
  mkdir -p "$KAFKA_DIR/data"
  local admin_pw controller_pw
  admin_pw="$(kafka_password "$IM_KAFKA_ADMIN_USER")"
  controller_pw="$(kafka_password "$IM_KAFKA_CONTROLLER_USER")"
  # Holds the admin's and the controller's passwords: 600, like every secret here.
  (
    umask 077
    cat >"$KAFKA_DIR/server.properties" <<PROPS
# Written by scripts/infra/up.sh: single-node KRaft broker+controller for tests, loopback only.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$IM_HOST:$IM_KAFKA_CONTROLLER_PORT
# Clients authenticate with SASL/SCRAM-SHA-512 (no PLAINTEXT listener: an anonymous client gets nothing).
listeners=CLIENT://$IM_HOST:$IM_KAFKA_PORT,CONTROLLER://$IM_HOST:$IM_KAFKA_CONTROLLER_PORT
advertised.listeners=CLIENT://$IM_HOST:$IM_KAFKA_PORT,CONTROLLER://$IM_HOST:$IM_KAFKA_CONTROLLER_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=CLIENT
listener.security.protocol.map=CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
listener.name.client.sasl.enabled.mechanisms=$IM_KAFKA_SASL_MECHANISM
sasl.mechanism.inter.broker.protocol=$IM_KAFKA_SASL_MECHANISM
listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$IM_KAFKA_ADMIN_USER" password="$admin_pw";
# KRaft's controller listener cannot use SCRAM (its credentials live in the metadata it serves): PLAIN
# with one static user, the broker itself.
listener.name.controller.sasl.enabled.mechanisms=PLAIN
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="$IM_KAFKA_CONTROLLER_USER" password="$controller_pw" user_$IM_KAFKA_CONTROLLER_USER="$controller_pw";
# ACLs: nothing is allowed unless an ACL allows it; the admin and the broker itself are super users.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:$IM_KAFKA_ADMIN_USER;User:$IM_KAFKA_CONTROLLER_USER
log.dirs=$KAFKA_DIR/data
# Single node: every internal topic must have replication factor 1 or groups hang.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.num.partitions=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
default.replication.factor=1
min.insync.replicas=1
num.partitions=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
delete.topic.enable=true
PROPS
  )
  chmod 600 "$KAFKA_DIR/server.properties"
  cat >"$KAFKA_DIR/log4j2.xml" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by scripts/infra/up.sh: WARN+ to a file, plus Kafka's "started" line. -->
<Configuration status="WARN">
  <Appenders>
    <File name="file" fileName="$KAFKA_LOG" append="true">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </File>
  </Appenders>
  <Loggers>
    <Logger name="kafka.server.KafkaRaftServer" level="INFO"/>
    <Logger name="kafka.Kafka" level="INFO"/>
    <Root level="WARN">
      <AppenderRef ref="file"/>
    </Root>
  </Loggers>
</Configuration>
XML
}

kafka_java_cmd() {
  KAFKA_JAVA=(java -Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2.xml"
    -cp "$KAFKA_LIB/*")
}

# The SCRAM users go into the storage at format time (KRaft keeps them in its metadata log). A data dir
# formatted without them (before SASL, or with other passwords) holds test data only: it is formatted
# again. The marker is a hash of the users and passwords, so a changed password also reformats.
format_kafka() {
  local marker="$KAFKA_DIR/data/.im-scram" want entry user args
  want="$(for entry in "$IM_KAFKA_ADMIN_USER" "${IM_KAFKA_USERS[@]}"; do
    user="${entry#*:}"; printf '%s:%s\n' "$user" "$(kafka_password "$user")"
  done | sha256sum | cut -d' ' -f1)"
  if [[ -f "$KAFKA_DIR/data/meta.properties" ]]; then
    [[ "$(cat "$marker" 2>/dev/null)" == "$want" ]] && return 0
    log "kafka: storage was formatted without these SCRAM users; formatting it again (test data is lost)"
    rm -rf "$KAFKA_DIR/data"
    mkdir -p "$KAFKA_DIR/data"
  fi
  [[ -s "$KAFKA_DIR/cluster-id" ]] || python3 "$PYHELPER" kafka-cluster-id >"$KAFKA_DIR/cluster-id"
  # The passwords go through a java @argfile (600, removed at once), never on a command line.
  args="$KAFKA_DIR/format.args"
  (
    umask 077
    {
      echo kafka.tools.StorageTool
      printf '%s\n' format --standalone --ignore-formatted -t "$(cat "$KAFKA_DIR/cluster-id")" -c "$KAFKA_DIR/server.properties"
      for entry in "$IM_KAFKA_ADMIN_USER" "${IM_KAFKA_USERS[@]}"; do
        user="${entry#*:}"
        printf '%s\n' --add-scram "\"$IM_KAFKA_SASL_MECHANISM=[name=$user,password=$(kafka_password "$user")]\""
      done
    } >"$args"
  )
  local rc=0
  "${KAFKA_JAVA[@]}" "@$args" >"$KAFKA_DIR/format.log" 2>&1 || rc=$?
  rm -f "$args"
  ((rc == 0)) || { cat "$KAFKA_DIR/format.log" >&2; die "kafka: formatting storage failed"; }
  printf '%s\n' "$want" >"$marker"
}

kafka_fail() {
  {
    echo "----- tail of $KAFKA_LOG -----"; tail -n 40 "$KAFKA_LOG" 2>/dev/null || true
    echo "----- tail of $KAFKA_STDOUT -----"; tail -n 20 "$KAFKA_STDOUT" 2>/dev/null || true
  } >&2
  die "kafka: $*"
}

up_kafka() {
  local t0 tstart; t0="$(now)"
  command -v java >/dev/null || die "java (17+) is required"
  if pid_alive "$KAFKA_PID" "$KAFKA_MARKER" && kafka_probe kafka-ready 2>/dev/null; then
    echo "kafka: already running (pid $(cat "$KAFKA_PID")), ready on $IM_HOST:$IM_KAFKA_PORT in $(elapsed "$t0") s"
    return 0
  fi
  if pid_alive "$KAFKA_PID" "$KAFKA_MARKER"; then
    log "kafka: pid $(cat "$KAFKA_PID") alive but not answering; waiting for it"
  else
    port_open "$IM_KAFKA_PORT" && die "kafka: $IM_HOST:$IM_KAFKA_PORT is in use by a process this script did not start"
    port_open "$IM_KAFKA_CONTROLLER_PORT" && die "kafka: $IM_HOST:$IM_KAFKA_CONTROLLER_PORT is in use by a process this script did not start"
    fetch_kafka
    write_kafka_config
    kafka_java_cmd
    tstart="$(now)"
    if [[ -f "$KAFKA_LOG" ]]; then mv -f "$KAFKA_LOG" "$KAFKA_LOG.1"; fi
    if [[ -f "$KAFKA_STDOUT" ]]; then mv -f "$KAFKA_STDOUT" "$KAFKA_STDOUT.1"; fi
    format_kafka
    # setsid: own session so the broker survives the calling shell.
    setsid "${KAFKA_JAVA[@]}" "$KAFKA_MARKER" kafka.Kafka "$KAFKA_DIR/server.properties" \
      >"$KAFKA_STDOUT" 2>&1 </dev/null 9>&- &
    echo $! >"$KAFKA_PID"
  fi
  local deadline=$((SECONDS + IM_START_TIMEOUT)) started=0
  while :; do
    pid_alive "$KAFKA_PID" "$KAFKA_MARKER" || kafka_fail "process exited during start-up"
    if ((!started)) && grep -q "Kafka Server started" "$KAFKA_LOG" 2>/dev/null; then started=1; fi
    if ((started)) && kafka_probe kafka-ready 2>/dev/null; then break; fi
    ((SECONDS >= deadline)) && kafka_fail "not ready on $IM_HOST:$IM_KAFKA_PORT after ${IM_START_TIMEOUT}s" \
      "(still running as pid $(cat "$KAFKA_PID"); scripts/infra/down.sh kafka stops it)"
    sleep 0.2
  done
  # Create __consumer_offsets and __transaction_state now rather than in the
  # first test (clients would otherwise see "coordinator not available").
  kafka_probe kafka-warm 30 \
    || log "kafka: warning: group/transaction coordinators not ready yet (clients will retry)"
  echo "kafka: started (pid $(cat "$KAFKA_PID")), ready on $IM_HOST:$IM_KAFKA_PORT in $(elapsed "$t0") s" \
    "(JVM start to ready: $(elapsed "${tstart:-$t0}") s)"
}

# ============================================================== s3proxy
fetch_s3proxy() {
  [[ -s "$S3_JAR" ]] && return 0
  local t0; t0="$(now)"
  log "s3: fetching org.gaul:s3proxy:$IM_S3PROXY_VERSION:jar-with-dependencies from Maven Central"
  mkdir -p "$S3_DIR"
  rm -rf "$S3_DIR/tmp"
  mvn_infra "$IM_MVN_DEP_PLUGIN:copy" \
    -Dartifact="org.gaul:s3proxy:$IM_S3PROXY_VERSION:jar:jar-with-dependencies" \
    -DoutputDirectory="$S3_DIR/tmp" || die "s3: downloading s3proxy with Maven failed"
  mv "$S3_DIR/tmp/$(basename "$S3_JAR")" "$S3_JAR"
  rm -rf "$S3_DIR/tmp"
  log "s3: s3proxy downloaded in $(elapsed "$t0") s"
}

write_s3_config() {
  local ak sk
  ak="$(s3_access_key)"; sk="$(s3_secret_key)"
  mkdir -p "$S3_DATA"
  (
    umask 077
    cat >"$S3_DIR/s3proxy.conf" <<CONF
# Written by scripts/infra/up.sh: test-only S3 endpoint on loopback.
s3proxy.endpoint=http://$IM_HOST:$IM_S3_PORT
s3proxy.authorization=aws-v2-or-v4
s3proxy.identity=$ak
s3proxy.credential=$sk
jclouds.provider=filesystem
jclouds.filesystem.basedir=$S3_DATA
jclouds.identity=$ak
jclouds.credential=$sk
CONF
  )
}

up_s3() {
  local t0 tstart; t0="$(now)"
  command -v java >/dev/null || die "java (17+) is required"
  if pid_alive "$S3_PID" "$S3_MARKER" && s3_cli ls >/dev/null 2>&1; then
    s3_cli mkbucket "$IM_S3_BUCKET" || die "s3: creating bucket $IM_S3_BUCKET failed"
    echo "s3: already running (pid $(cat "$S3_PID")), ready on http://$IM_HOST:$IM_S3_PORT in $(elapsed "$t0") s"
    return 0
  fi
  if ! pid_alive "$S3_PID" "$S3_MARKER"; then
    port_open "$IM_S3_PORT" && die "s3: $IM_HOST:$IM_S3_PORT is in use by a process this script did not start"
    fetch_s3proxy
    write_s3_config
    tstart="$(now)"
    [[ -f "$S3_LOG" ]] && mv -f "$S3_LOG" "$S3_LOG.1"
    setsid java -Xms64m -Xmx512m -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true "$S3_MARKER" \
      -DLOG_LEVEL=warn -DJETTY_LOG_LEVEL=warn \
      -Dlogback.statusListenerClass=ch.qos.logback.core.status.NopStatusListener -jar "$S3_JAR" --properties "$S3_DIR/s3proxy.conf" \
      >"$S3_LOG" 2>&1 </dev/null 9>&- &
    echo $! >"$S3_PID"
  fi
  local deadline=$((SECONDS + IM_START_TIMEOUT))
  until s3_cli ls >/dev/null 2>&1; do
    if ! pid_alive "$S3_PID" "$S3_MARKER"; then
      tail -n 40 "$S3_LOG" >&2 || true; die "s3: s3proxy exited during start-up"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 40 "$S3_LOG" >&2 || true
      die "s3: not ready on $IM_HOST:$IM_S3_PORT after ${IM_START_TIMEOUT}s (still running as pid $(cat "$S3_PID"); scripts/infra/down.sh s3 stops it)"
    fi
    sleep 0.2
  done
  s3_cli mkbucket "$IM_S3_BUCKET" || die "s3: creating bucket $IM_S3_BUCKET failed"
  echo "s3: started (pid $(cat "$S3_PID")), ready on http://$IM_HOST:$IM_S3_PORT with bucket $IM_S3_BUCKET in $(elapsed "$t0") s" \
    "(JVM start to ready: $(elapsed "${tstart:-$t0}") s)"
}

# ============================================================== main
main() {
  local want=("$@") c
  ((${#want[@]})) || want=(all)
  for c in "${want[@]}"; do
    case "$c" in postgres|kafka|s3|all) ;; *) die "usage: $0 [postgres|kafka|s3|all]..." ;; esac
  done
  [[ " ${want[*]} " == *" all "* ]] && want=(postgres kafka s3)
  take_lock
  local t0; t0="$(now)"
  for c in "${want[@]}"; do "up_$c"; done
  write_env_file
  echo "all requested components ready in $(elapsed "$t0") s"
  echo "env: . $IM_INFRA_DIR/env"
}

main "$@"
