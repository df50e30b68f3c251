{{/*
Names, labels, image, Secret names and the environment of each service. Every workload template
calls these with a dict: `root` (the top context) and `key` (the component's values key:
gateway, auth, jobconfig, fileStorage, jobRunner).
*/}}

{{- define "im.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-<chart>, or the release name when it already holds the chart name; 40 characters at most so that "-setup-file-storage" still fits in 63. */}}
{{- define "im.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "im.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The component's name in Kubernetes (and in services/<name>): fileStorage -> file-storage. */}}
{{- define "im.slug" -}}
{{- get (dict "gateway" "gateway" "auth" "auth" "jobconfig" "jobconfig" "fileStorage" "file-storage" "jobRunner" "job-runner") . | required (printf "unknown component %q" .) -}}
{{- end -}}

{{/* Full name of a component's resources. Takes dict root, key. */}}
{{- define "im.componentName" -}}
{{- printf "%s-%s" (include "im.fullname" .root) (include "im.slug" .key) -}}
{{- end -}}

{{/* Selector labels. Takes dict root, component (the slug, or migrate, create-topics, test). */}}
{{- define "im.selectorLabels" -}}
app.kubernetes.io/name: {{ include "im.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Every label. Takes dict root, component. */}}
{{- define "im.labels" -}}
{{ include "im.selectorLabels" . }}
app.kubernetes.io/part-of: integration-manager
app.kubernetes.io/version: {{ .root.Values.image.tag | default .root.Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ include "im.chart" .root }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* metadata.annotations with the common ones and extra ones. Takes dict root, extra (map). */}}
{{- define "im.annotations" -}}
{{- $all := merge (deepCopy (default (dict) .extra)) (default (dict) .root.Values.commonAnnotations) -}}
{{- if $all -}}
annotations: {{- toYaml $all | nindent 2 }}
{{- end -}}
{{- end -}}

{{- define "im.image" -}}
{{- $registry := .Values.global.imageRegistry | default .Values.image.registry -}}
{{- $ref := printf "%s/%s" $registry .Values.image.repository | trimPrefix "/" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $ref .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $ref (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{- define "im.testImage" -}}
{{- $t := .Values.tests.image -}}
{{- $registry := .Values.global.imageRegistry | default $t.registry -}}
{{- $ref := printf "%s/%s" $registry $t.repository | trimPrefix "/" -}}
{{- if $t.digest -}}
{{- printf "%s@%s" $ref $t.digest -}}
{{- else -}}
{{- printf "%s:%s" $ref $t.tag -}}
{{- end -}}
{{- end -}}

{{- define "im.imagePullSecrets" -}}
{{- with .Values.global.imagePullSecrets -}}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end -}}
{{- end -}}

{{/* Takes dict root, key. */}}
{{- define "im.serviceAccountName" -}}
{{- $v := index .root.Values .key -}}
{{- if $v.serviceAccount.create -}}
{{- $v.serviceAccount.name | default (include "im.componentName" .) -}}
{{- else -}}
{{- $v.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{/* In-cluster base URL of a component's Service. Takes dict root, key. */}}
{{- define "im.serviceUrl" -}}
{{- printf "http://%s:%d" (include "im.componentName" .) (int (index .root.Values .key).service.port) -}}
{{- end -}}

{{/* What each component needs. */}}
{{- define "im.needsDb" -}}{{ has . (list "auth" "jobconfig" "fileStorage") }}{{- end -}}
{{- define "im.needsBus" -}}{{ has . (list "jobconfig" "fileStorage" "jobRunner") }}{{- end -}}
{{- /* needsKafka: Kafka without object storage (auth: user changes out, the audit trail in). */ -}}
{{- define "im.needsKafka" -}}{{ has . (list "jobconfig" "fileStorage" "jobRunner" "auth") }}{{- end -}}
{{- /* needsJwt: mounts the signing key (auth only); verifiesJwt: checks tokens against auth's JWKS. */ -}}
{{- define "im.needsJwt" -}}{{ eq . "auth" }}{{- end -}}
{{- define "im.verifiesJwt" -}}{{ has . (list "gateway" "jobconfig" "fileStorage") }}{{- end -}}
{{- /* needsSecretsKeys: encrypts (jobconfig) or decrypts (job-runner) secure macro values. */ -}}
{{- define "im.needsSecretsKeys" -}}{{ has . (list "jobconfig" "jobRunner") }}{{- end -}}
{{- /* needsInternalToken: behind the gateway or the gateway itself (never the runner: jobs run beside it). */ -}}
{{- define "im.needsInternalToken" -}}{{ has . (list "gateway" "auth" "jobconfig" "fileStorage") }}{{- end -}}

{{/*
The Secrets the chart creates from values, as YAML: Secret name suffix -> data (plain text).
Only credentials given as values appear; an existingSecret is used as it is.
*/}}
{{- define "im.chartSecrets" -}}
{{- $v := .Values -}}
{{- $out := dict -}}
{{- $auth := dict -}}
{{- if $v.database.auth.url }}{{ $_ := set $auth "DB_URL" $v.database.auth.url }}{{ end -}}
{{- if $v.admin.password }}{{ $_ := set $auth "AUTH_ADMIN_PASSWORD" $v.admin.password }}{{ end -}}
{{- if $auth }}{{ $_ := set $out "auth" $auth }}{{ end -}}
{{- if $v.database.jobconfig.url }}{{ $_ := set $out "jobconfig" (dict "DB_URL" $v.database.jobconfig.url) }}{{ end -}}
{{- if $v.database.fileStorage.url }}{{ $_ := set $out "file-storage" (dict "DB_URL" $v.database.fileStorage.url) }}{{ end -}}
{{- if and (not $v.s3.existingSecret) (or $v.s3.accessKeyId $v.s3.secretAccessKey) -}}
{{- $_ := set $out "s3" (dict "S3_ACCESS_KEY_ID" $v.s3.accessKeyId "S3_SECRET_ACCESS_KEY" $v.s3.secretAccessKey) -}}
{{- end -}}
{{- if $v.kafka.sasl.enabled -}}
{{- range $k, $u := $v.kafka.sasl.users -}}
{{- if and $u.password (not $u.existingSecret) -}}
{{- $_ := set $out (printf "kafka-%s" (include "im.kafkaUserSlug" $k)) (dict "KAFKA_SASL_PASSWORD" $u.password) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and (not $v.jwt.existingSecret) $v.jwt.privateKey -}}
{{- $_ := set $out "jwt" (dict "private.pem" $v.jwt.privateKey) -}}
{{- end -}}
{{- if and (not $v.secretsEncryption.existingSecret) $v.secretsEncryption.keys -}}
{{- $_ := set $out "secrets-encryption" (dict "SECRETS_ENCRYPTION_KEYS" $v.secretsEncryption.keys) -}}
{{- end -}}
{{- if and (not $v.internalToken.existingSecret) $v.internalToken.value -}}
{{- $_ := set $out "internal-token" (dict "INTERNAL_TOKEN" $v.internalToken.value) -}}
{{- end -}}
{{- if and (not $v.metrics.existingSecret) $v.metrics.token -}}
{{- $_ := set $out "metrics" (dict "METRICS_TOKEN" $v.metrics.token) -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/*
Name and key of the Secret that holds one credential. Takes dict root, what (db-auth, db-jobconfig,
db-fileStorage, admin, s3-id, s3-secret, kafka-<user: setup, auth, jobconfig, fileStorage, jobRunner>, jwt-private, secrets-encryption, internal-token, metrics), setup (bool: the setup
Jobs' hook copy). Returns "name key".
*/}}
{{- define "im.secretRef" -}}
{{- $v := .root.Values -}}
{{- $prefix := include "im.fullname" .root -}}
{{- if .setup }}{{ $prefix = printf "%s-setup" $prefix }}{{ end -}}
{{- $w := .what -}}
{{- if hasPrefix "db-" $w -}}
{{- $db := index $v.database (trimPrefix "db-" $w) -}}
{{- if $db.existingSecret }}{{ printf "%s %s" $db.existingSecret $db.existingSecretKey }}{{ else }}{{ printf "%s-%s DB_URL" $prefix (include "im.slug" (trimPrefix "db-" $w)) }}{{ end -}}
{{- else if eq $w "admin" -}}
{{- if $v.admin.existingSecret }}{{ printf "%s %s" $v.admin.existingSecret $v.admin.existingSecretKey }}{{ else }}{{ printf "%s-auth AUTH_ADMIN_PASSWORD" $prefix }}{{ end -}}
{{- else if eq $w "s3-id" -}}
{{- if $v.s3.existingSecret }}{{ printf "%s %s" $v.s3.existingSecret $v.s3.existingSecretAccessKeyIdKey }}{{ else }}{{ printf "%s-s3 S3_ACCESS_KEY_ID" $prefix }}{{ end -}}
{{- else if eq $w "s3-secret" -}}
{{- if $v.s3.existingSecret }}{{ printf "%s %s" $v.s3.existingSecret $v.s3.existingSecretSecretAccessKeyKey }}{{ else }}{{ printf "%s-s3 S3_SECRET_ACCESS_KEY" $prefix }}{{ end -}}
{{- else if hasPrefix "kafka-" $w -}}
{{- $u := index $v.kafka.sasl.users (trimPrefix "kafka-" $w) -}}
{{- if $u.existingSecret }}{{ printf "%s %s" $u.existingSecret $u.existingSecretPasswordKey }}{{ else }}{{ printf "%s-kafka-%s KAFKA_SASL_PASSWORD" $prefix (include "im.kafkaUserSlug" (trimPrefix "kafka-" $w)) }}{{ end -}}
{{- else if eq $w "jwt-private" -}}
{{- if $v.jwt.existingSecret }}{{ printf "%s %s" $v.jwt.existingSecret $v.jwt.existingSecretPrivateKeyKey }}{{ else }}{{ printf "%s-jwt private.pem" $prefix }}{{ end -}}
{{- else if eq $w "secrets-encryption" -}}
{{- if $v.secretsEncryption.existingSecret }}{{ printf "%s %s" $v.secretsEncryption.existingSecret $v.secretsEncryption.existingSecretKey }}{{ else }}{{ printf "%s-secrets-encryption SECRETS_ENCRYPTION_KEYS" $prefix }}{{ end -}}
{{- else if eq $w "internal-token" -}}
{{- if $v.internalToken.existingSecret }}{{ printf "%s %s" $v.internalToken.existingSecret $v.internalToken.existingSecretKey }}{{ else }}{{ printf "%s-internal-token INTERNAL_TOKEN" $prefix }}{{ end -}}
{{- else if eq $w "metrics" -}}
{{- if $v.metrics.existingSecret }}{{ printf "%s %s" $v.metrics.existingSecret $v.metrics.existingSecretKey }}{{ else }}{{ printf "%s-metrics METRICS_TOKEN" $prefix }}{{ end -}}
{{- else -}}
{{- fail (printf "im.secretRef: unknown credential %q" $w) -}}
{{- end -}}
{{- end -}}

{{/* One env entry from a Secret. Takes dict root, what, setup, env (variable name). */}}
{{- define "im.secretEnvVar" -}}
{{- $ref := splitList " " (include "im.secretRef" .) -}}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ index $ref 0 | quote }}
      key: {{ index $ref 1 | quote }}
{{- end -}}

{{/*
The non-secret environment of a component (its ConfigMap's data), exactly as its main.ts reads it.
Takes dict root, key.
*/}}
{{- define "im.configData" -}}
{{- $v := .root.Values -}}
{{- $c := index $v .key -}}
{{- $key := .key -}}
HTTP_PORT: {{ $c.containerPort | toString | quote }}
LOG_LEVEL: {{ $v.logLevel | quote }}
OTEL_TRACES_SAMPLER: {{ $v.tracing.sampler | quote }}
OTEL_TRACES_SAMPLER_ARG: {{ $v.tracing.samplerArg | toString | quote }}
{{- with $v.tracing.otlpEndpoint }}
OTEL_EXPORTER_OTLP_ENDPOINT: {{ . | quote }}
{{- end }}
{{- if ne $key "jobRunner" }}
SHUTDOWN_TIMEOUT_MS: {{ $c.config.shutdownTimeoutMs | int64 | toString | quote }}
{{- with $v.publicBaseUrl }}
HTTP_PUBLIC_BASE_URL: {{ . | quote }}
{{- end }}
{{- end }}
{{- if eq (include "im.verifiesJwt" $key) "true" }}
AUTH_JWKS_URL: {{ printf "%s/api/.well-known/jwks.json" (include "im.serviceUrl" (dict "root" .root "key" "auth")) | quote }}
AUTH_JWT_ALGORITHM: {{ $v.jwt.algorithm | quote }}
AUTH_JWT_CLOCK_TOLERANCE_SECONDS: {{ $v.jwt.clockToleranceSeconds | int64 | toString | quote }}
AUTH_JWKS_CACHE_SECONDS: {{ $v.jwt.jwksCacheSeconds | int64 | toString | quote }}
{{- end }}
{{- if eq (include "im.needsDb" $key) "true" }}
{{- $db := index $v.database $key }}
DB_CLIENT: "postgres"
DB_SCHEMA: {{ $db.schema | quote }}
DB_POOL_MAX: {{ $v.database.poolMax | int64 | toString | quote }}
{{- end }}
{{- if eq (include "im.needsKafka" $key) "true" }}
KAFKA_BROKERS: {{ join "," $v.kafka.brokers | quote }}
KAFKA_TOPIC_PREFIX: {{ $v.kafka.topicPrefix | quote }}
KAFKA_SSL: {{ $v.kafka.ssl | toString | quote }}
{{- if $v.kafka.sasl.enabled }}
KAFKA_SASL_MECHANISM: {{ $v.kafka.sasl.mechanism | quote }}
KAFKA_SASL_USERNAME: {{ (index $v.kafka.sasl.users $key).username | quote }}
{{- end }}
{{- end }}
{{- if eq (include "im.needsBus" $key) "true" }}
{{- with $v.s3.endpoint }}
S3_ENDPOINT: {{ . | quote }}
{{- end }}
S3_REGION: {{ $v.s3.region | quote }}
S3_BUCKET: {{ $v.s3.bucket | quote }}
S3_FORCE_PATH_STYLE: {{ $v.s3.forcePathStyle | toString | quote }}
S3_KEY_PREFIX: {{ $v.s3.keyPrefix | quote }}
{{- end }}
{{- if has $key (list "auth" "jobconfig" "fileStorage") }}
HTTP_TRUST_PROXY: {{ $v.gatewayAddresses | quote }}
{{- end }}
{{- if eq $key "gateway" }}
AUTH_SERVICE_URL: {{ include "im.serviceUrl" (dict "root" .root "key" "auth") | quote }}
JOBCONFIG_SERVICE_URL: {{ include "im.serviceUrl" (dict "root" .root "key" "jobconfig") | quote }}
FILES_SERVICE_URL: {{ include "im.serviceUrl" (dict "root" .root "key" "fileStorage") | quote }}
PROXY_RESPONSE_TIMEOUT_MS: {{ $c.config.proxyResponseTimeoutMs | int64 | toString | quote }}
PROXY_IDLE_TIMEOUT_MS: {{ $c.config.proxyIdleTimeoutMs | int64 | toString | quote }}
GATEWAY_CORS_ORIGINS: {{ join "," $c.config.corsOrigins | quote }}
GATEWAY_RATE_LIMIT_PER_MINUTE: {{ $c.config.rateLimitPerMinute | int64 | toString | quote }}
GATEWAY_RATE_LIMIT_PER_IP_PER_MINUTE: {{ $c.config.rateLimitPerIpPerMinute | int64 | toString | quote }}
GATEWAY_TRUST_PROXY: {{ $c.config.trustProxy | quote }}
{{- else if eq $key "auth" }}
AUTH_JWT_PRIVATE_KEY_FILE: {{ printf "%s/private.pem" $v.jwt.mountPath | quote }}
AUTH_ACCESS_TOKEN_TTL: {{ $c.config.accessTokenTtl | int64 | toString | quote }}
AUTH_REFRESH_TOKEN_TTL: {{ $c.config.refreshTokenTtl | int64 | toString | quote }}
AUTH_MAX_FAILED_LOGINS: {{ $c.config.maxFailedLogins | int64 | toString | quote }}
AUTH_LOCKOUT_SECONDS: {{ $c.config.lockoutSeconds | int64 | toString | quote }}
AUTH_LOGIN_DELAY_MAX_MS: {{ $c.config.loginDelayMaxMs | int64 | toString | quote }}
AUTH_IP_MAX_FAILED_LOGINS: {{ $c.config.ipMaxFailedLogins | int64 | toString | quote }}
AUTH_IP_WINDOW_SECONDS: {{ $c.config.ipWindowSeconds | int64 | toString | quote }}
AUTH_IP_LOCKOUT_SECONDS: {{ $c.config.ipLockoutSeconds | int64 | toString | quote }}
{{- with $v.jwt.previousPublicKeys }}
AUTH_JWT_PREVIOUS_PUBLIC_KEYS: {{ . | quote }}
{{- end }}
{{- else if eq $key "jobconfig" }}
FILES_SERVICE_URL: {{ include "im.serviceUrl" (dict "root" .root "key" "fileStorage") | quote }}
INTERNAL_TIMEOUT_MS: {{ $v.internalTimeoutMs | int64 | toString | quote }}
JOBS_LEASE_MS: {{ $c.config.leaseMs | int64 | toString | quote }}
KAFKA_TOPIC_PARTITIONS: {{ $v.kafka.topics.partitions | int64 | toString | quote }}
KAFKA_TOPIC_REPLICATION: {{ $v.kafka.topics.replicationFactor | int64 | toString | quote }}
{{- else if eq $key "fileStorage" }}
JOBCONFIG_SERVICE_URL: {{ include "im.serviceUrl" (dict "root" .root "key" "jobconfig") | quote }}
INTERNAL_TIMEOUT_MS: {{ $v.internalTimeoutMs | int64 | toString | quote }}
FILES_MAX_BYTES: {{ $c.config.maxBytes | toString | quote }}
{{- else if eq $key "jobRunner" }}
JOBS_CONCURRENCY: {{ $c.config.concurrency | int64 | toString | quote }}
JOBS_SANDBOX: {{ $c.config.sandbox | toString | quote }}
JOBS_ISOLATION: {{ $c.config.isolation | quote }}
JOBS_NETWORK: {{ $c.config.network | quote }}
JOBS_MEMORY_MB: {{ $c.config.memoryMb | int64 | toString | quote }}
JOBS_PACKAGE_CACHE_MB: {{ $c.config.packageCacheMb | int64 | toString | quote }}
JOBS_WARM_EXECUTORS: {{ $c.config.warmExecutors | int64 | toString | quote }}
RUNNER_WORK_DIR: "/var/lib/im-runner/work"
RUNNER_GRACE_MS: {{ $c.config.graceMs | int64 | toString | quote }}
RUNNER_HEARTBEAT_MS: {{ $c.config.heartbeatMs | int64 | toString | quote }}
RUNNER_KILL_GRACE_MS: {{ $c.config.killGraceMs | int64 | toString | quote }}
RUNNER_LOG_FLUSH_MS: {{ $c.config.logFlushMs | int64 | toString | quote }}
RUNNER_KEEP_WORK_DIRS: {{ $c.config.keepWorkDirs | toString | quote }}
RUNNER_MAX_UNPACKED_BYTES: {{ $c.config.maxUnpackedBytes | toString | quote }}
RUNNER_MAX_ENTRIES: {{ $c.config.maxEntries | int64 | toString | quote }}
{{- end }}
{{- end -}}

{{/* The Kafka user's part of a Secret name: setup, auth, jobconfig, file-storage, job-runner. */}}
{{- define "im.kafkaUserSlug" -}}{{ if eq . "setup" }}setup{{ else }}{{ include "im.slug" . }}{{ end }}{{- end -}}

{{/*
The create-topics Job's Kafka settings beyond jobconfig's: its own user and, with kafka.acls.create,
the users it grants ACLs to. Takes root.
*/}}
{{- define "im.createTopicsEnv" -}}
{{- $v := .Values -}}
{{- if $v.kafka.sasl.enabled }}
- name: KAFKA_SASL_USERNAME
  value: {{ $v.kafka.sasl.users.setup.username | quote }}
{{- if $v.kafka.acls.create }}
{{- range $k, $env := dict "auth" "KAFKA_ACL_AUTH_USER" "jobconfig" "KAFKA_ACL_JOBCONFIG_USER" "fileStorage" "KAFKA_ACL_FILE_STORAGE_USER" "jobRunner" "KAFKA_ACL_JOB_RUNNER_USER" }}
- name: {{ $env }}
  value: {{ (index $v.kafka.sasl.users $k).username | quote }}
{{- end }}
{{- with $v.kafka.acls.eventsUsername }}
- name: KAFKA_ACL_EVENTS_USER
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The secret environment of a component. Takes dict root, key, setup, kafkaUser (default: key). */}}
{{- define "im.secretEnv" -}}
{{- $v := .root.Values -}}
{{- $key := .key -}}
{{- $base := dict "root" .root "setup" .setup -}}
{{- if eq (include "im.needsDb" $key) "true" }}
{{ include "im.secretEnvVar" (merge (dict "what" (printf "db-%s" $key) "env" "DB_URL") $base) }}
{{- end }}
{{- if and (eq $key "auth") (not .setup) }}
{{ include "im.secretEnvVar" (merge (dict "what" "admin" "env" "AUTH_ADMIN_PASSWORD") $base) }}
{{- end }}
{{- if eq (include "im.needsBus" $key) "true" }}
{{ include "im.secretEnvVar" (merge (dict "what" "s3-id" "env" "S3_ACCESS_KEY_ID") $base) }}
{{ include "im.secretEnvVar" (merge (dict "what" "s3-secret" "env" "S3_SECRET_ACCESS_KEY") $base) }}
{{- end }}
{{- if and (eq (include "im.needsKafka" $key) "true") $v.kafka.sasl.enabled }}
{{ include "im.secretEnvVar" (merge (dict "what" (printf "kafka-%s" (.kafkaUser | default $key)) "env" "KAFKA_SASL_PASSWORD") $base) }}
{{- end }}
{{- if and (eq (include "im.needsSecretsKeys" $key) "true") (not .setup) }}
{{ include "im.secretEnvVar" (merge (dict "what" "secrets-encryption" "env" "SECRETS_ENCRYPTION_KEYS") $base) }}
{{- end }}
{{- if and (eq (include "im.needsInternalToken" $key) "true") (not .setup) }}
{{ include "im.secretEnvVar" (merge (dict "what" "internal-token" "env" "INTERNAL_TOKEN") $base) }}
{{- end }}
{{- if and (or $v.metrics.token $v.metrics.existingSecret) (not .setup) }}
{{ include "im.secretEnvVar" (merge (dict "what" "metrics" "env" "METRICS_TOKEN") $base) }}
{{- end }}
{{- end -}}

{{/* The signing-key volume (auth only: the others verify against its JWKS). Takes dict root, key, setup. */}}
{{- define "im.jwtVolume" -}}
{{- $priv := splitList " " (include "im.secretRef" (dict "root" .root "what" "jwt-private" "setup" .setup)) -}}
- name: jwt
  secret:
    secretName: {{ index $priv 0 | quote }}
    defaultMode: 288 # 0440: owner and fsGroup may read
    items:
      - key: {{ index $priv 1 | quote }}
        path: private.pem
{{- end -}}

{{/* Container volume mounts. Takes dict root, key. */}}
{{- define "im.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if eq (include "im.needsJwt" .key) "true" }}
- name: jwt
  mountPath: {{ .root.Values.jwt.mountPath }}
  readOnly: true
{{- end }}
{{- if eq .key "jobRunner" }}
- name: work
  mountPath: /var/lib/im-runner
{{- end }}
{{- end -}}

{{/* The container's security context of the setup and test pods (the components have their own in values). */}}
{{- define "im.restrictedContainerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "im.restrictedPodSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Hook annotations of the setup Jobs' own resources. Takes weight. */}}
{{- define "im.setupHook" -}}
helm.sh/hook: pre-install,pre-upgrade
helm.sh/hook-weight: {{ . | quote }}
{{- end -}}
