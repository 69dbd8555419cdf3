{{/* Chart name. */}}
{{- define "snapshot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart, unless the release name already contains the chart name. */}}
{{- define "snapshot.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "snapshot.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "snapshot.labels" -}}
helm.sh/chart: {{ include "snapshot.chart" . }}
{{ include "snapshot.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "snapshot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "snapshot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "snapshot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "snapshot.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "snapshot.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The Secret with S3 credentials, if any. */}}
{{- define "snapshot.s3SecretName" -}}
{{- if .Values.s3.existingSecret }}
{{- .Values.s3.existingSecret }}
{{- else if .Values.s3.accessKeyId }}
{{- printf "%s-s3" (include "snapshot.fullname" .) }}
{{- end }}
{{- end }}

{{/* Fails rendering on contradictory values (included by the Deployment and NOTES.txt). */}}
{{- define "snapshot.validate" -}}
{{- $timeout := int (default "30" (index .Values.config "SNAPSHOT_CAPTURE_TIMEOUT")) }}
{{- if le (int .Values.terminationGracePeriodSeconds) (add $timeout (int .Values.preStopSleepSeconds)) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed SNAPSHOT_CAPTURE_TIMEOUT (%d) + preStopSleepSeconds (%d), or captures in flight are killed" (int .Values.terminationGracePeriodSeconds) $timeout (int .Values.preStopSleepSeconds)) }}
{{- end }}
{{- if and .Values.s3.existingSecret (or .Values.s3.accessKeyId .Values.s3.secretAccessKey) }}
{{- fail "set either s3.existingSecret or s3.accessKeyId/secretAccessKey, not both" }}
{{- end }}
{{- if ne (empty .Values.s3.accessKeyId) (empty .Values.s3.secretAccessKey) }}
{{- fail "s3.accessKeyId and s3.secretAccessKey go together" }}
{{- end }}
{{- if and (or .Values.s3.existingSecret .Values.s3.accessKeyId) (not (index .Values.config "SNAPSHOT_S3_BUCKET")) }}
{{- fail "S3 credentials are set but config.SNAPSHOT_S3_BUCKET is not" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas is greater than autoscaling.maxReplicas" }}
{{- end }}
{{- if and .Values.podDisruptionBudget.enabled (not .Values.autoscaling.enabled) (ge (int .Values.podDisruptionBudget.minAvailable) (int .Values.replicaCount)) }}
{{- fail "podDisruptionBudget.minAvailable must be below replicaCount, or no pod can ever be evicted" }}
{{- end }}
{{- if and (not (index .Values.config "SNAPSHOT_GRID_URL")) (eq (toString (index .Values.config "SNAPSHOT_ALLOW_LOCALMODE")) "false") }}
{{- fail "without config.SNAPSHOT_GRID_URL every capture runs locally, so SNAPSHOT_ALLOW_LOCALMODE=false would refuse nothing: unset it or set a Grid" }}
{{- end }}
{{- if and .Values.ingress.enabled (not .Values.ingress.hosts) }}
{{- fail "ingress.enabled needs at least one ingress.hosts entry" }}
{{- end }}
{{- end }}
