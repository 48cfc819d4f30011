{{/*
Names. The release name is the base of every name (kube-observer for the default release,
as in deploy/), unless fullnameOverride is set. Kubernetes names are at most 63 chars.
*/}}
{{- define "kube-observer.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The ServiceAccount, also the name of the ClusterRole, Role and bindings (as `kube-observer rbac --service-account`). */}}
{{- define "kube-observer.serviceAccountName" -}}
{{- default (include "kube-observer.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "kube-observer.configMapName" -}}
{{- default (printf "%s-config" (include "kube-observer.fullname" .)) .Values.config.existingConfigMap -}}
{{- end -}}

{{- define "kube-observer.neo4jSecretName" -}}
{{- default (printf "%s-neo4j" (include "kube-observer.fullname" .)) .Values.sink.neo4j.existingSecret -}}
{{- end -}}

{{/*
Labels: only name and instance. No chart version or managed-by label: the same rendering
is the kustomize base (deploy/, scripts/deploy/generate-manifests.sh), applied by kubectl,
and a version label would change every object on every release.
*/}}
{{- define "kube-observer.selectorLabels" -}}
app.kubernetes.io/name: kube-observer
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kube-observer.labels" -}}
{{ include "kube-observer.selectorLabels" . }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}
