{{- define "grid.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 55 | trimSuffix "-" }}
{{- else if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 55 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "grid.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: selenium-grid
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "grid.hubSelector" -}}
app.kubernetes.io/name: selenium-hub
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "grid.nodeSelector" -}}
app.kubernetes.io/name: selenium-node-chrome
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "grid.secretName" -}}
{{- default (printf "%s-auth" (include "grid.fullname" .)) .Values.basicAuth.existingSecret }}
{{- end }}

{{- define "grid.registrationSecretName" -}}
{{- default (printf "%s-registration" (include "grid.fullname" .)) .Values.registrationExistingSecret }}
{{- end }}

{{/*
"true" when the render can see a cluster (helm install/upgrade), "" when it cannot (helm template,
--dry-run=client, Argo CD): every cluster has kube-system.  Generated secrets are rendered only when
it can, so a render without the cluster never produces a value the running hub does not know.
*/}}
{{- define "grid.seesCluster" -}}
{{- if lookup "v1" "Namespace" "" "kube-system" }}true{{ end }}
{{- end }}

{{/* a Secret's data as it is in the cluster, or an empty map */}}
{{- define "grid.liveSecretData" -}}
{{- $secret := lookup "v1" "Secret" .root.Release.Namespace .name }}
{{- toYaml (($secret | default dict).data | default dict) }}
{{- end }}

{{/* what rolls the pods when a secret they read changes (explicit values, or the live Secrets) */}}
{{- define "grid.secretsChecksum" -}}
{{- $auth := include "grid.liveSecretData" (dict "root" . "name" (include "grid.secretName" .)) }}
{{- $registration := include "grid.liveSecretData" (dict "root" . "name" (include "grid.registrationSecretName" .)) }}
{{- printf "%s/%s/%s/%s/%s" .Values.basicAuth.username .Values.basicAuth.password .Values.registrationSecret $auth $registration | sha256sum }}
{{- end }}

{{- define "grid.hubUrl" -}}
{{- printf "http://%s-hub.%s:%d" (include "grid.fullname" .) .Release.Namespace (int .Values.hub.service.port) }}
{{- end }}

{{- define "grid.podSecurity" -}}
runAsNonRoot: true
runAsUser: 1200
runAsGroup: 1201
fsGroup: 1201
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "grid.containerSecurity" -}}
allowPrivilegeEscalation: false
capabilities:
  drop: ["ALL"]
{{- end }}

{{- define "grid.validate" -}}
{{- if and .Values.registrationSecret .Values.registrationExistingSecret }}
{{- fail "registrationSecret and registrationExistingSecret contradict each other: give one" }}
{{- end }}
{{- if and .Values.basicAuth.password .Values.basicAuth.existingSecret }}
{{- fail "basicAuth.password and basicAuth.existingSecret contradict each other: give one" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicaCount) (int .Values.autoscaling.maxReplicaCount)) }}
{{- fail "autoscaling.minReplicaCount is greater than autoscaling.maxReplicaCount" }}
{{- end }}
{{- if and .Values.networkPolicy.enabled (eq .Values.networkPolicy.browserEgress "proxy") (not .Values.networkPolicy.proxy.cidr) (not .Values.networkPolicy.proxy.podLabels) }}
{{- fail "networkPolicy.browserEgress=proxy needs networkPolicy.proxy.podLabels or networkPolicy.proxy.cidr" }}
{{- end }}
{{- end }}
