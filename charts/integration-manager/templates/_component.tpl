{{/*
The resources of one component, identical in shape for all five. Each takes dict root, key
(gateway, auth, jobconfig, fileStorage, jobRunner); templates/<component>/*.yaml call them.
*/}}

{{- define "im.component.configmap" -}}
{{- $name := include "im.componentName" . -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ $name }}
  namespace: {{ .root.Release.Namespace | quote }}
  labels: {{- include "im.labels" (dict "root" .root "component" (include "im.slug" .key)) | nindent 4 }}
  {{- with include "im.annotations" (dict "root" .root) }}{{ . | nindent 2 }}{{ end }}
data: {{- include "im.configData" . | nindent 2 }}
{{- end -}}

{{- define "im.component.serviceaccount" -}}
{{- $c := index .root.Values .key -}}
{{- if $c.serviceAccount.create -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "im.serviceAccountName" . }}
  namespace: {{ .root.Release.Namespace | quote }}
  labels: {{- include "im.labels" (dict "root" .root "component" (include "im.slug" .key)) | nindent 4 }}
  {{- with include "im.annotations" (dict "root" .root "extra" $c.serviceAccount.annotations) }}{{ . | nindent 2 }}{{ end }}
automountServiceAccountToken: false
{{- end -}}
{{- end -}}

{{- define "im.component.service" -}}
{{- $c := index .root.Values .key -}}
{{- $slug := include "im.slug" .key -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "im.componentName" . }}
  namespace: {{ .root.Release.Namespace | quote }}
  labels: {{- include "im.labels" (dict "root" .root "component" $slug) | nindent 4 }}
  {{- with include "im.annotations" (dict "root" .root "extra" $c.service.annotations) }}{{ . | nindent 2 }}{{ end }}
spec:
  type: {{ $c.service.type }}
  selector: {{- include "im.selectorLabels" (dict "root" .root "component" $slug) | nindent 4 }}
  ports:
    - name: http
      port: {{ $c.service.port }}
      targetPort: http
      protocol: TCP
{{- end -}}

{{- define "im.component.deployment" -}}
{{- $root := .root -}}
{{- $key := .key -}}
{{- $c := index $root.Values $key -}}
{{- $slug := include "im.slug" $key -}}
{{- $name := include "im.componentName" . -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  namespace: {{ $root.Release.Namespace | quote }}
  labels: {{- include "im.labels" (dict "root" $root "component" $slug) | nindent 4 }}
  {{- with include "im.annotations" (dict "root" $root) }}{{ . | nindent 2 }}{{ end }}
spec:
  {{- if not $c.autoscaling.enabled }}
  replicas: {{ $c.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy: {{- toYaml $c.updateStrategy | nindent 4 }}
  selector:
    matchLabels: {{- include "im.selectorLabels" (dict "root" $root "component" $slug) | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "im.labels" (dict "root" $root "component" $slug) | nindent 8 }}
        {{- with $c.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/config: {{ include "im.configData" . | sha256sum }}
        checksum/secrets: {{ include "im.chartSecrets" $root | sha256sum }}
        {{- if $root.Values.metrics.podAnnotations }}
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ $c.containerPort | toString | quote }}
        prometheus.io/path: /metrics
        {{- end }}
        {{- with $c.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "im.serviceAccountName" . }}
      automountServiceAccountToken: false
      enableServiceLinks: false
      {{- with include "im.imagePullSecrets" $root }}{{ . | nindent 6 }}{{ end }}
      securityContext: {{- toYaml $c.podSecurityContext | nindent 8 }}
      terminationGracePeriodSeconds: {{ $c.terminationGracePeriodSeconds }}
      {{- with $c.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      {{- with $c.nodeSelector }}
      nodeSelector: {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $c.tolerations }}
      tolerations: {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $c.affinity }}
      affinity: {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if $c.topologySpread.enabled }}
      topologySpreadConstraints:
        {{- range $c.topologySpread.topologyKeys }}
        - maxSkew: {{ $c.topologySpread.maxSkew }}
          topologyKey: {{ . }}
          whenUnsatisfiable: {{ $c.topologySpread.whenUnsatisfiable }}
          labelSelector:
            matchLabels: {{- include "im.selectorLabels" (dict "root" $root "component" $slug) | nindent 14 }}
          matchLabelKeys:
            - pod-template-hash
        {{- end }}
      {{- end }}
      containers:
        - name: {{ $slug }}
          image: {{ include "im.image" $root }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          {{- /* Only args: the image's ENTRYPOINT (tini -- node --disable-sigusr1) runs them. */}}
          args: [{{ printf "services/%s/dist/main.js" $slug | quote }}]
          ports:
            - name: http
              containerPort: {{ $c.containerPort }}
              protocol: TCP
          envFrom:
            - configMapRef:
                name: {{ $name }}
          {{- $secretEnv := include "im.secretEnv" (dict "root" $root "key" $key "setup" false) | trim }}
          {{- if or $secretEnv (eq $key "jobRunner") $c.extraEnv }}
          env:
            {{- with $secretEnv }}{{ . | nindent 12 }}{{ end }}
            {{- if eq $key "jobRunner" }}
            - name: RUNNER_ID
              valueFrom:
                fieldRef:
                  fieldPath: metadata.name
            {{- end }}
            {{- with $c.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- end }}
          {{- if $c.startupProbe.enabled }}
          startupProbe:
            httpGet:
              path: /healthz
              port: http
            periodSeconds: {{ $c.startupProbe.periodSeconds }}
            timeoutSeconds: {{ $c.startupProbe.timeoutSeconds }}
            failureThreshold: {{ $c.startupProbe.failureThreshold }}
          {{- end }}
          {{- if $c.livenessProbe.enabled }}
          livenessProbe:
            httpGet:
              path: /healthz
              port: http
            periodSeconds: {{ $c.livenessProbe.periodSeconds }}
            timeoutSeconds: {{ $c.livenessProbe.timeoutSeconds }}
            failureThreshold: {{ $c.livenessProbe.failureThreshold }}
          {{- end }}
          {{- if $c.readinessProbe.enabled }}
          readinessProbe:
            httpGet:
              path: /readyz
              port: http
            periodSeconds: {{ $c.readinessProbe.periodSeconds }}
            timeoutSeconds: {{ $c.readinessProbe.timeoutSeconds }}
            failureThreshold: {{ $c.readinessProbe.failureThreshold }}
          {{- end }}
          {{- if gt (int $c.preStopSleepSeconds) 0 }}
          lifecycle:
            preStop:
              exec:
                command: ["sleep", {{ $c.preStopSleepSeconds | toString | quote }}]
          {{- end }}
          resources: {{- toYaml $c.resources | nindent 12 }}
          securityContext: {{- toYaml $c.containerSecurityContext | nindent 12 }}
          volumeMounts: {{- include "im.volumeMounts" . | nindent 12 }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: {{ $c.tmpDirSizeLimit }}
        {{- if eq (include "im.needsJwt" $key) "true" }}
        {{- include "im.jwtVolume" (dict "root" $root "key" $key "setup" false) | nindent 8 }}
        {{- end }}
        {{- if eq $key "jobRunner" }}
        - name: work
          emptyDir:
            sizeLimit: {{ $c.config.workDirSizeLimit }}
        {{- end }}
{{- end -}}

{{- define "im.component.hpa" -}}
{{- $c := index .root.Values .key -}}
{{- if $c.autoscaling.enabled -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "im.componentName" . }}
  namespace: {{ .root.Release.Namespace | quote }}
  labels: {{- include "im.labels" (dict "root" .root "component" (include "im.slug" .key)) | nindent 4 }}
  {{- with include "im.annotations" (dict "root" .root) }}{{ . | nindent 2 }}{{ end }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "im.componentName" . }}
  minReplicas: {{ $c.autoscaling.minReplicas }}
  maxReplicas: {{ $c.autoscaling.maxReplicas }}
  metrics:
    {{- if gt (int $c.autoscaling.targetCPUUtilizationPercentage) 0 }}
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $c.autoscaling.targetCPUUtilizationPercentage }}
    {{- end }}
    {{- if gt (int $c.autoscaling.targetMemoryUtilizationPercentage) 0 }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ $c.autoscaling.targetMemoryUtilizationPercentage }}
    {{- end }}
  {{- if eq .key "jobRunner" }}
  behavior:
    # Runners finish their jobs before they go (RUNNER_GRACE_MS); scale in slowly.
    scaleDown:
      stabilizationWindowSeconds: 600
      policies:
        - type: Pods
          value: 1
          periodSeconds: 120
  {{- end }}
{{- end -}}
{{- end -}}

{{- define "im.component.pdb" -}}
{{- $c := index .root.Values .key -}}
{{- if $c.pdb.enabled -}}
{{- $slug := include "im.slug" .key -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "im.componentName" . }}
  namespace: {{ .root.Release.Namespace | quote }}
  labels: {{- include "im.labels" (dict "root" .root "component" $slug) | nindent 4 }}
  {{- with include "im.annotations" (dict "root" .root) }}{{ . | nindent 2 }}{{ end }}
spec:
  {{- if ne (toString (default "" $c.pdb.minAvailable)) "" }}
  minAvailable: {{ $c.pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ $c.pdb.maxUnavailable }}
  {{- end }}
  selector:
    matchLabels: {{- include "im.selectorLabels" (dict "root" .root "component" $slug) | nindent 6 }}
{{- end -}}
{{- end -}}

{{/* A peer that selects the pods of one component of this release. Takes dict root, component (slug). */}}
{{- define "im.podPeer" -}}
- podSelector:
    matchLabels: {{- include "im.selectorLabels" . | nindent 6 }}
{{- end -}}

{{- define "im.component.networkpolicy" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- $np := $v.networkPolicy -}}
{{- if $np.enabled -}}
{{- $key := .key -}}
{{- $c := index $v $key -}}
{{- $slug := include "im.slug" $key -}}
{{- /* jobconfig and file-storage call auth for its JWKS (token verification keys). */ -}}
{{- $callers := get (dict "gateway" (list) "auth" (list "gateway" "jobconfig" "file-storage") "jobconfig" (list "gateway" "file-storage") "fileStorage" (list "gateway" "jobconfig") "jobRunner" (list)) $key -}}
{{- $callees := get (dict "gateway" (list "auth" "jobconfig" "fileStorage") "auth" (list) "jobconfig" (list "fileStorage" "auth") "fileStorage" (list "jobconfig" "auth") "jobRunner" (list)) $key -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "im.componentName" . }}
  namespace: {{ $root.Release.Namespace | quote }}
  labels: {{- include "im.labels" (dict "root" $root "component" $slug) | nindent 4 }}
  {{- with include "im.annotations" (dict "root" $root) }}{{ . | nindent 2 }}{{ end }}
spec:
  podSelector:
    matchLabels: {{- include "im.selectorLabels" (dict "root" $root "component" $slug) | nindent 6 }}
  policyTypes: [Ingress, Egress]
  ingress:
    {{- if eq $key "gateway" }}
    # The only component reachable from outside the release.
    - ports:
        - port: http
          protocol: TCP
      {{- with $np.gatewayIngressFrom }}
      from: {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- else }}
    - ports:
        - port: http
          protocol: TCP
      from:
        {{- range $callers }}
        {{- include "im.podPeer" (dict "root" $root "component" .) | nindent 8 }}
        {{- end }}
        # helm test pods
        {{- include "im.podPeer" (dict "root" $root "component" "test") | nindent 8 }}
        {{- with $np.metricsIngressFrom }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    {{- end }}
  egress:
    - ports: {{- toYaml $np.dns.ports | nindent 8 }}
      {{- with $np.dns.to }}
      to: {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- range $callees }}
    - ports:
        - port: {{ (index $v .).containerPort }}
          protocol: TCP
      to: {{- include "im.podPeer" (dict "root" $root "component" (include "im.slug" .)) | nindent 8 }}
    {{- end }}
    {{- if eq (include "im.needsDb" $key) "true" }}
    - ports: {{- toYaml $np.database.ports | nindent 8 }}
      {{- with $np.database.to }}
      to: {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- end }}
    {{- if eq (include "im.needsKafka" $key) "true" }}
    - ports: {{- toYaml $np.kafka.ports | nindent 8 }}
      {{- with $np.kafka.to }}
      to: {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- end }}
    {{- if eq (include "im.needsBus" $key) "true" }}
    - ports: {{- toYaml $np.s3.ports | nindent 8 }}
      {{- with $np.s3.to }}
      to: {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- end }}
    {{- if eq $key "jobRunner" }}
    {{- with $np.jobRunnerExtraEgress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    {{- end }}
{{- end -}}
{{- end -}}
