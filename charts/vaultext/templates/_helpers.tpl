{{/* The name of every namespaced object and of the cluster-wide RBAC (one operator per cluster). */}}
{{- define "vaultext.name" -}}
{{- default "vaultext-operator" .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels the chart puts on everything; the first one also comes from the kustomize base. */}}
{{- define "vaultext.labels" -}}
app.kubernetes.io/part-of: vaultext
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "vaultext.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vaultext.name" . }}
{{- end -}}

{{/* A setting as an env entry, only when set (camelCase key -> VAULTEXT_OPERATOR_SNAKE_CASE). */}}
{{- define "vaultext.settingsEnv" -}}
{{- range $key, $value := .Values.settings }}
{{- if not (kindIs "invalid" $value) }}
- name: VAULTEXT_OPERATOR_{{ snakecase $key | upper }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}
{{- end -}}
