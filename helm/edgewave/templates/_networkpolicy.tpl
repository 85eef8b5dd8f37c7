{{/* Egress and ingress rules the NetworkPolicies share. */}}

{{- define "edgewave.np.external" -}}
{{- if .Values.networkPolicy.externalCIDRs }}
to:
  {{- range .Values.networkPolicy.externalCIDRs }}
  - ipBlock: { cidr: {{ . | quote }} }
  {{- end }}
{{- end }}
{{- end -}}
{{- define "edgewave.np.kafka" -}}
{{- if eq .Values.kafka.mode "strimzi" }}
- to:
    - podSelector:
        matchLabels:
          strimzi.io/cluster: {{ include "edgewave.kafkaCluster" . }}
          strimzi.io/kind: Kafka
  ports:
    - { protocol: TCP, port: 9092 }
{{- else }}
- ports:
    - { protocol: TCP, port: {{ .Values.kafka.port }} }
  {{- include "edgewave.np.external" . | nindent 2 }}
{{- end }}
{{- end -}}
{{- define "edgewave.np.dns" -}}
- to:
    - namespaceSelector: {}
      podSelector:
        matchLabels:
          k8s-app: kube-dns
  ports:
    - { protocol: UDP, port: 53 }
    - { protocol: TCP, port: 53 }
{{- end -}}
{{- define "edgewave.np.monitoring" -}}
- from:
    - namespaceSelector:
        {{- toYaml .ctx.Values.networkPolicy.monitoring.namespaceSelector | nindent 8 }}
      podSelector:
        {{- toYaml .ctx.Values.networkPolicy.monitoring.podSelector | nindent 8 }}
  ports:
    - { protocol: TCP, port: {{ .port }} }
{{- end -}}
