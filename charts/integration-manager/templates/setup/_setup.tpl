{{/*
The setup Jobs run as Helm hooks before install and before every upgrade, before the release's
own Secrets and ConfigMaps exist. So they get hook copies of them (weight -10, deleted once the
hooks succeeded) rendered by the same helpers as the services' own, plus a ServiceAccount and a
NetworkPolicy of their own. An existingSecret is used as it is.
*/}}

{{/* One setup container: a service's entry point with a command. Takes dict root, key, command. */}}
{{- define "im.setup.container" -}}
{{- $slug := include "im.slug" .key -}}
- name: {{ printf "%s-%s" .command $slug }}
  image: {{ include "im.image" .root }}
  imagePullPolicy: {{ .root.Values.image.pullPolicy }}
  args: [{{ printf "services/%s/dist/main.js" $slug | quote }}, {{ .command | quote }}]
  envFrom:
    - configMapRef:
        name: {{ printf "%s-setup-%s" (include "im.fullname" .root) $slug }}
  {{- $createTopics := eq .command "create-topics" }}
  {{- $env := include "im.secretEnv" (dict "root" .root "key" .key "setup" true "kafkaUser" (ternary "setup" .key $createTopics)) | trim }}
  {{- if $createTopics }}{{ $env = printf "%s\n%s" $env (include "im.createTopicsEnv" .root | trim) | trim }}{{ end }}
  {{- with $env }}
  env: {{- . | nindent 4 }}
  {{- end }}
  resources: {{- toYaml .root.Values.setup.resources | nindent 4 }}
  securityContext: {{- include "im.restrictedContainerSecurityContext" . | nindent 4 }}
  volumeMounts:
    - name: tmp
      mountPath: /tmp
    {{- if eq (include "im.needsJwt" .key) "true" }}
    - name: {{ printf "jwt-%s" $slug }}
      mountPath: {{ .root.Values.jwt.mountPath }}
      readOnly: true
    {{- end }}
{{- end -}}

{{/* The pod spec of a setup Job. Takes dict root, component (label), containers (list of dicts key+command). */}}
{{- define "im.setup.job" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- $containers := .containers -}}
{{- $last := last $containers -}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ printf "%s-%s" (include "im.fullname" $root) .component }}
  namespace: {{ $root.Release.Namespace | quote }}
  labels: {{- include "im.labels" (dict "root" $root "component" .component) | nindent 4 }}
  annotations:
    {{- include "im.setupHook" .weight | nindent 4 }}
    # Kept after success so its logs can be read; replaced by the next install or upgrade.
    helm.sh/hook-delete-policy: before-hook-creation
    {{- with $v.commonAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  backoffLimit: {{ $v.setup.backoffLimit }}
  activeDeadlineSeconds: {{ $v.setup.activeDeadlineSeconds }}
  {{- if gt (int $v.setup.ttlSecondsAfterFinished) 0 }}
  ttlSecondsAfterFinished: {{ $v.setup.ttlSecondsAfterFinished }}
  {{- end }}
  template:
    metadata:
      labels: {{- include "im.labels" (dict "root" $root "component" .component) | nindent 8 }}
      {{- with $v.setup.podAnnotations }}
      annotations: {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      restartPolicy: Never
      serviceAccountName: {{ printf "%s-setup" (include "im.fullname" $root) }}
      automountServiceAccountToken: false
      enableServiceLinks: false
      {{- with include "im.imagePullSecrets" $root }}{{ . | nindent 6 }}{{ end }}
      securityContext: {{- include "im.restrictedPodSecurityContext" . | nindent 8 }}
      {{- with $v.setup.nodeSelector }}
      nodeSelector: {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.setup.tolerations }}
      tolerations: {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if gt (len $containers) 1 }}
      # Init containers run one after the other: each step starts only when the one before succeeded.
      initContainers:
        {{- range (initial $containers) }}
        {{- include "im.setup.container" (dict "root" $root "key" .key "command" .command) | nindent 8 }}
        {{- end }}
      {{- end }}
      containers:
        {{- include "im.setup.container" (dict "root" $root "key" $last.key "command" $last.command) | nindent 8 }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
        {{- range $containers }}
        {{- if eq (include "im.needsJwt" .key) "true" }}
        {{- $vol := include "im.jwtVolume" (dict "root" $root "key" .key "setup" true) | fromYamlArray | first }}
        {{- $_ := set $vol "name" (printf "jwt-%s" (include "im.slug" .key)) }}
        - {{- toYaml $vol | nindent 10 }}
        {{- end }}
        {{- end }}
{{- end -}}
