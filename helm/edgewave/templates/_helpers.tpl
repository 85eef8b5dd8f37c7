{{/* Names, labels and the values several templates share. */}}

{{- define "edgewave.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "edgewave.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* labels: pass (dict "ctx" $ "component" "api") */}}
{{- define "edgewave.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: edgewave
{{ include "edgewave.selectorLabels" . }}
{{- end -}}

{{- define "edgewave.selectorLabels" -}}
app.kubernetes.io/name: {{ include "edgewave.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "edgewave.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "edgewave.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "edgewave.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "edgewave.kafkaCluster" -}}
{{- default (printf "%s-kafka" (include "edgewave.fullname" .)) .Values.kafka.strimzi.clusterName | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{/* The bootstrap servers as a JSON list. */}}
{{- define "edgewave.kafkaBrokers" -}}
{{- if eq .Values.kafka.mode "strimzi" -}}
{{- list (printf "%s-kafka-bootstrap:9092" (include "edgewave.kafkaCluster" .)) | toJson -}}
{{- else -}}
{{- .Values.kafka.bootstrapServers | toJson -}}
{{- end -}}
{{- end -}}

{{- define "edgewave.mqttUrl" -}}
{{- if eq .Values.mqtt.mode "embedded" -}}
{{- printf "mqtt://%s-mosquitto:%d" (include "edgewave.fullname" .) (int .Values.mqtt.embedded.service.port) -}}
{{- else -}}
{{- .Values.mqtt.url -}}
{{- end -}}
{{- end -}}

{{- define "edgewave.credentialsSecret" -}}
{{- .Values.credentials.existingSecret -}}
{{- end -}}

{{/* The pod-level settings every component shares. */}}
{{- define "edgewave.podCommon" -}}
serviceAccountName: {{ include "edgewave.serviceAccountName" . }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* S3 credentials from the Secret, when it has them (optional keys: otherwise the SDK's chain). */}}
{{- define "edgewave.s3Env" -}}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef: { name: {{ include "edgewave.credentialsSecret" . }}, key: s3-access-key-id, optional: true }
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef: { name: {{ include "edgewave.credentialsSecret" . }}, key: s3-secret-access-key, optional: true }
{{- end -}}
