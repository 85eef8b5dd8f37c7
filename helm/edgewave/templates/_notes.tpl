{{/* What NOTES.txt prints after an install: what runs and how to reach it. */}}
{{- define "edgewave.notes" -}}
edgewave {{ .Chart.AppVersion }} is installed as release {{ .Release.Name }} in namespace {{ .Release.Namespace }}.

What runs:
  bridge     {{ .Values.bridge.replicas }} x StatefulSet {{ include "edgewave.fullname" . }}-bridge       MQTT {{ include "edgewave.mqttUrl" . }} → Kafka
  processor  {{ if .Values.processor.keda.enabled }}{{ .Values.processor.keda.minReplicas }}-{{ .Values.processor.keda.maxReplicas }} (KEDA, on consumer lag){{ else }}{{ .Values.processor.replicas }}{{ end }} x Deployment {{ include "edgewave.fullname" . }}-processor    exactly-once features, inference, sessions → MongoDB, S3 ({{ .Values.s3.archiveUrl }})
  api        {{ if .Values.api.hpa.enabled }}{{ .Values.api.hpa.minReplicas }}-{{ .Values.api.hpa.maxReplicas }} (HPA){{ else }}{{ .Values.api.replicas }}{{ end }} x Deployment {{ include "edgewave.fullname" . }}-api          REST, WebSocket, the web app
  Kafka      {{ if eq .Values.kafka.mode "strimzi" }}Strimzi cluster {{ include "edgewave.kafkaCluster" . }} (KRaft, {{ .Values.kafka.strimzi.replicas }} nodes) and a KafkaTopic per topic{{ else }}external: {{ join ", " .Values.kafka.bootstrapServers }} (create the topics: see the chart's README){{ end }}
  {{- if eq .Values.mqtt.mode "embedded" }}
  Mosquitto  {{ include "edgewave.fullname" . }}-mosquitto:{{ .Values.mqtt.embedded.service.port }} (passwords from Secret {{ .Values.mqtt.embedded.passwordSecret }}; gateways log in with their gateway id)
  {{- end }}

Credentials come from Secret {{ include "edgewave.credentialsSecret" . }}{{ if .Values.credentials.externalSecret.enabled }} (made by an ExternalSecret from {{ .Values.credentials.externalSecret.secretStoreRef.kind }} {{ .Values.credentials.externalSecret.secretStoreRef.name }}){{ end }}: mongodb-url, mqtt-password, and optionally s3-access-key-id, s3-secret-access-key.
API keys come from Secret {{ .Values.api.keysSecret }} (one key per entry: "<scope>:<sha256>"; `edgewave api hash-key` makes one).

Reach it:
{{- if .Values.ingress.enabled }}
  {{ if .Values.ingress.tls.enabled }}https{{ else }}http{{ end }}://{{ .Values.ingress.host }}/            the dashboard (lab: /lab.html, OpenAPI: /docs)
{{- else }}
  kubectl -n {{ .Release.Namespace }} port-forward svc/{{ include "edgewave.fullname" . }}-api 8080:{{ .Values.api.service.port }}
  then http://localhost:8080/ (lab: /lab.html, OpenAPI: /docs)
{{- end }}

Check it:
  kubectl -n {{ .Release.Namespace }} get pods -l app.kubernetes.io/instance={{ .Release.Name }}
  kubectl -n {{ .Release.Namespace }} logs -l app.kubernetes.io/component=processor --tail=20
{{- end -}}
