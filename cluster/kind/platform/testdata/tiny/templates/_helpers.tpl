{{- define "tiny.labels" -}}
app: {{ .Release.Name }}
tiny: {{ .Release.Name | trimPrefix "tiny-" }}
{{- end }}
