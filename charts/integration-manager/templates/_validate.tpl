{{/*
Checks across values that values.schema.json cannot express. Every problem is listed, each with
what to set, and the install stops before anything is created.
*/}}
{{- define "im.validate" -}}
{{- $v := .Values -}}
{{- $e := list -}}

{{- /* Kafka */ -}}
{{- if not $v.kafka.brokers -}}
{{- $e = append $e "kafka.brokers is empty: list your Kafka bootstrap brokers, e.g. --set 'kafka.brokers={kafka-0.kafka:9092,kafka-1.kafka:9092}'." -}}
{{- end -}}
{{- range $v.kafka.brokers -}}
{{- if not (regexMatch "^[^\\s,:]+:[0-9]{1,5}$" .) -}}
{{- $e = append $e (printf "kafka.brokers: %q is not host:port." .) -}}
{{- end -}}
{{- end -}}
{{- $sasl := $v.kafka.sasl -}}
{{- $seen := dict -}}
{{- range $k := list "setup" "auth" "jobconfig" "fileStorage" "jobRunner" -}}
{{- $u := index $sasl.users $k -}}
{{- $p := printf "kafka.sasl.users.%s" $k -}}
{{- if $sasl.enabled -}}
{{- if not $u.username -}}{{- $e = append $e (printf "kafka.sasl.enabled is true but %s.username is empty: give each service its own Kafka user." $p) -}}
{{- else if and (ne $k "setup") (hasKey $seen $u.username) -}}{{- $e = append $e (printf "%s.username %q is also the user of %s: each service needs its own Kafka user (its ACLs allow only its topics)." $p $u.username (get $seen $u.username)) -}}
{{- else if ne $k "setup" -}}{{- $_ := set $seen $u.username $k -}}
{{- end -}}
{{- if and $u.password $u.existingSecret -}}
{{- $e = append $e (printf "%s.password and %s.existingSecret are both set: keep one (existingSecret for production)." $p $p) -}}
{{- else if not (or $u.password $u.existingSecret) -}}
{{- $e = append $e (printf "kafka.sasl.enabled is true but there is no password for %s: set %s.existingSecret (a Secret with the key %s.existingSecretPasswordKey) or %s.password." $p $p $p $p) -}}
{{- end -}}
{{- else if or $u.password $u.existingSecret -}}
{{- $e = append $e (printf "%s.password or .existingSecret is set but kafka.sasl.enabled is false: set kafka.sasl.enabled=true, or remove the credential." $p) -}}
{{- end -}}
{{- end -}}
{{- if and $v.kafka.acls.eventsUsername (not $sasl.enabled) -}}
{{- $e = append $e "kafka.acls.eventsUsername is set but kafka.sasl.enabled is false: ACLs need SASL users." -}}
{{- end -}}

{{- /* S3 */ -}}
{{- if lt (len $v.s3.bucket) 3 -}}
{{- $e = append $e "s3.bucket is empty: set the name of the bucket you created for the platform (s3.bucket=...)." -}}
{{- end -}}
{{- if and $v.s3.existingSecret (or $v.s3.accessKeyId $v.s3.secretAccessKey) -}}
{{- $e = append $e "s3.existingSecret and s3.accessKeyId/s3.secretAccessKey are both set: keep one (existingSecret for production)." -}}
{{- else if not $v.s3.existingSecret -}}
{{- if not (and $v.s3.accessKeyId $v.s3.secretAccessKey) -}}
{{- $e = append $e "S3 credentials are missing: set s3.existingSecret (a Secret with the keys s3.existingSecretAccessKeyIdKey and s3.existingSecretSecretAccessKeyKey), or both s3.accessKeyId and s3.secretAccessKey." -}}
{{- end -}}
{{- end -}}
{{- if not (regexMatch "^([A-Za-z0-9._-]+/)*$" $v.s3.keyPrefix) -}}
{{- $e = append $e (printf "s3.keyPrefix %q must be empty or end with / (e.g. im/)." $v.s3.keyPrefix) -}}
{{- end -}}

{{- /* PostgreSQL, one URL per service */ -}}
{{- range $key := list "auth" "jobconfig" "fileStorage" -}}
{{- $db := index $v.database $key -}}
{{- if and $db.url $db.existingSecret -}}
{{- $e = append $e (printf "database.%s.url and database.%s.existingSecret are both set: keep one (existingSecret for production)." $key $key) -}}
{{- else if not (or $db.url $db.existingSecret) -}}
{{- $e = append $e (printf "database.%s has no connection: set database.%s.existingSecret (a Secret whose key database.%s.existingSecretKey holds postgres://user:password@host:5432/db) or database.%s.url." $key $key $key $key) -}}
{{- else if and $db.url (not (regexMatch "^postgres(ql)?://" $db.url)) -}}
{{- $e = append $e (printf "database.%s.url must start with postgres:// (postgres://user:password@host:5432/db)." $key) -}}
{{- end -}}
{{- end -}}
{{- $schemas := list $v.database.auth.schema $v.database.jobconfig.schema $v.database.fileStorage.schema -}}
{{- if ne (len (uniq $schemas)) 3 -}}
{{- $e = append $e (printf "database.*.schema must differ between services (each owns its schema): %v." $schemas) -}}
{{- end -}}

{{- /* JWT keys */ -}}
{{- $jwt := $v.jwt -}}
{{- if and $jwt.existingSecret $jwt.privateKey -}}
{{- $e = append $e "jwt.existingSecret and jwt.privateKey are both set: keep one (existingSecret for production)." -}}
{{- else if not $jwt.existingSecret -}}
{{- if not $jwt.privateKey -}}
{{- $e = append $e "The token-signing keys are missing: set jwt.existingSecret (a Secret with private.pem; docs/kubernetes.md shows how to make it), or --set-file jwt.privateKey=private.pem." -}}
{{- else if not (contains "PRIVATE KEY-----" $jwt.privateKey) -}}
{{- $e = append $e "jwt.privateKey is not a PEM private key (-----BEGIN PRIVATE KEY-----)." -}}
{{- end -}}
{{- end -}}
{{- if and $jwt.previousPublicKeys (not (contains "-----BEGIN PUBLIC KEY-----" $jwt.previousPublicKeys)) -}}
{{- $e = append $e "jwt.previousPublicKeys holds no PEM public key (-----BEGIN PUBLIC KEY-----)." -}}
{{- end -}}

{{- /* The keyring of secure macro values (jobconfig and job-runner) */ -}}
{{- $sec := $v.secretsEncryption -}}
{{- if and $sec.keys $sec.existingSecret -}}
{{- $e = append $e "secretsEncryption.keys and secretsEncryption.existingSecret are both set: keep one (existingSecret for production)." -}}
{{- else if not (or $sec.keys $sec.existingSecret) -}}
{{- $e = append $e "The encryption keys of secure macro values are missing: set secretsEncryption.existingSecret (a Secret whose key secretsEncryption.existingSecretKey holds k1:<key>, the key made with `openssl rand -base64 32`) or secretsEncryption.keys." -}}
{{- else if and $sec.keys (not (regexMatch "^[A-Za-z0-9._-]{1,64}:[A-Za-z0-9+/]{43}=(,[A-Za-z0-9._-]{1,64}:[A-Za-z0-9+/]{43}=)*$" $sec.keys)) -}}
{{- $e = append $e "secretsEncryption.keys must be kid:base64key[,kid:base64key...] with 32-byte keys (make one with `openssl rand -base64 32`)." -}}
{{- end -}}

{{- /* The internal token (gateway and the services behind it) and the metrics token */ -}}
{{- $tokenRe := "^[\x21-\x7e]{32,}$" -}}
{{- $it := $v.internalToken -}}
{{- if and $it.value $it.existingSecret -}}
{{- $e = append $e "internalToken.value and internalToken.existingSecret are both set: keep one (existingSecret for production)." -}}
{{- else if not (or $it.value $it.existingSecret) -}}
{{- $e = append $e "The internal token is missing (the services behind the gateway answer nothing without it): set internalToken.existingSecret (a Secret whose key internalToken.existingSecretKey holds a token made with `openssl rand -hex 32`) or internalToken.value." -}}
{{- else if and $it.value (not (regexMatch $tokenRe $it.value)) -}}
{{- $e = append $e "internalToken.value must be 32 or more visible ASCII characters, no spaces (make one with `openssl rand -hex 32`)." -}}
{{- end -}}
{{- $m := $v.metrics -}}
{{- if and $m.token $m.existingSecret -}}
{{- $e = append $e "metrics.token and metrics.existingSecret are both set: keep one (existingSecret for production)." -}}
{{- else if and $m.podAnnotations (not (or $m.token $m.existingSecret)) -}}
{{- $e = append $e "metrics.podAnnotations is on but /metrics has no token (it answers 401 without one): set metrics.existingSecret (a Secret whose key metrics.existingSecretKey holds a token made with `openssl rand -hex 32`) or metrics.token, and give Prometheus the same token (docs/observability.md); or set metrics.podAnnotations=false." -}}
{{- else if and $m.token (not (regexMatch $tokenRe $m.token)) -}}
{{- $e = append $e "metrics.token must be 32 or more visible ASCII characters, no spaces (make one with `openssl rand -hex 32`)." -}}
{{- end -}}

{{- /* The first administrator */ -}}
{{- if and $v.admin.password $v.admin.existingSecret -}}
{{- $e = append $e "admin.password and admin.existingSecret are both set: keep one (existingSecret for production)." -}}
{{- else if not (or $v.admin.password $v.admin.existingSecret) -}}
{{- $e = append $e "The administrator's password is missing: set admin.existingSecret (a Secret with the key admin.existingSecretKey) or admin.password (12+ characters)." -}}
{{- else if and $v.admin.password (lt (len $v.admin.password) 12) -}}
{{- $e = append $e "admin.password is shorter than 12 characters." -}}
{{- end -}}

{{- /* Per component: shutdown fits in the grace period, autoscaling and PDB bounds */ -}}
{{- range $key := list "gateway" "auth" "jobconfig" "fileStorage" "jobRunner" -}}
{{- $c := index $v $key -}}
{{- $shutdownMs := 0 -}}
{{- $what := "" -}}
{{- if eq $key "jobRunner" -}}
{{- $shutdownMs = add $c.config.graceMs $c.config.killGraceMs 10000 -}}
{{- $what = "config.graceMs + config.killGraceMs + 10 s" -}}
{{- else -}}
{{- $shutdownMs = int64 $c.config.shutdownTimeoutMs -}}
{{- $what = "config.shutdownTimeoutMs" -}}
{{- end -}}
{{- $needMs := add $shutdownMs (mul $c.preStopSleepSeconds 1000) -}}
{{- if le (mul $c.terminationGracePeriodSeconds 1000) $needMs -}}
{{- $e = append $e (printf "%s.terminationGracePeriodSeconds (%d s) must be greater than preStopSleepSeconds + %s (%d ms), or pods are killed before they finish shutting down: raise it to at least %d." $key (int $c.terminationGracePeriodSeconds) $what (int64 $needMs) (add (div $needMs 1000) 1)) -}}
{{- end -}}
{{- if and $c.autoscaling.enabled (gt (int $c.autoscaling.minReplicas) (int $c.autoscaling.maxReplicas)) -}}
{{- $e = append $e (printf "%s.autoscaling.minReplicas is greater than maxReplicas." $key) -}}
{{- end -}}
{{- if and $c.autoscaling.enabled (eq (int $c.autoscaling.targetCPUUtilizationPercentage) 0) (eq (int $c.autoscaling.targetMemoryUtilizationPercentage) 0) -}}
{{- $e = append $e (printf "%s.autoscaling is enabled without a target: set targetCPUUtilizationPercentage or targetMemoryUtilizationPercentage." $key) -}}
{{- end -}}
{{- if and $c.pdb.enabled (ne (toString (default "" $c.pdb.minAvailable)) "") (not $c.autoscaling.enabled) (ge (int $c.pdb.minAvailable) (int $c.replicaCount)) (not (contains "%" (toString $c.pdb.minAvailable))) -}}
{{- $e = append $e (printf "%s.pdb.minAvailable (%v) is not below replicaCount (%d): no pod could ever be evicted and node drains would hang. Lower it or use pdb.maxUnavailable." $key $c.pdb.minAvailable (int $c.replicaCount)) -}}
{{- end -}}
{{- end -}}

{{- /* Runners share job requests by partition: more runners than partitions idle. */ -}}
{{- $runners := ternary $v.jobRunner.autoscaling.maxReplicas $v.jobRunner.replicaCount $v.jobRunner.autoscaling.enabled -}}
{{- if gt (int $runners) (int $v.kafka.topics.partitions) -}}
{{- $e = append $e (printf "jobRunner can scale to %d pods but kafka.topics.partitions is %d: the runners beyond it would get no job requests. Lower jobRunner.%s, or raise kafka.topics.partitions (it applies to topics created from now on; add partitions to existing topics with kafka-topics.sh --alter)." (int $runners) (int $v.kafka.topics.partitions) (ternary "autoscaling.maxReplicas" "replicaCount" $v.jobRunner.autoscaling.enabled)) -}}
{{- end -}}

{{- /* Ingress */ -}}
{{- if .Values.ingress.enabled -}}
{{- if not .Values.ingress.hosts -}}
{{- $e = append $e "ingress.enabled is true but ingress.hosts is empty: add at least one host with a path (e.g. /api)." -}}
{{- end -}}
{{- range .Values.ingress.tls -}}
{{- if not .secretName -}}{{- $e = append $e "ingress.tls: every entry needs a secretName (the TLS Secret, e.g. made by cert-manager)." -}}{{- end -}}
{{- end -}}
{{- end -}}

{{- if $e -}}
{{- fail (printf "\n\nThe values of integration-manager are not consistent; fix these and try again (docs/kubernetes.md explains each):\n  - %s\n" (join "\n  - " $e)) -}}
{{- end -}}
{{- end -}}
