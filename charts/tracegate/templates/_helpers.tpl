{{/*
Labels of every object: name and part-of always (the webhooks, PDBs and Services select on name and
component); Helm's bookkeeping labels unless helmLabels is false (the generated kustomize base).
Call with (dict "root" $ "component" "webhook"); component may be empty.
*/}}
{{- define "tracegate.labels" -}}
app.kubernetes.io/name: tracegate
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
app.kubernetes.io/part-of: tracegate
{{- if .root.Values.helmLabels }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end }}
{{- end }}

{{/*
The selector of a component's pods. Never change it: a Deployment's selector is immutable.
*/}}
{{- define "tracegate.selectorLabels" -}}
app.kubernetes.io/name: tracegate
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
The image both Deployments run: by digest when one is given (what runs is then exactly what was
verified), else by tag (the chart's appVersion by default).
*/}}
{{- define "tracegate.image" -}}
{{- $img := .Values.image -}}
{{- if $img.digest -}}
{{ $img.repository }}@{{ $img.digest }}
{{- else -}}
{{ $img.repository }}:{{ $img.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end }}

{{/*
The namespaces neither webhook ever intercepts: the control plane's and the release's own (so the gate
never judges its own pods and can always be restarted), plus webhooks.excludedNamespaces.
*/}}
{{- define "tracegate.excludedNamespaces" -}}
{{- $ns := list "kube-system" "kube-node-lease" .Release.Namespace -}}
{{- $ns = concat $ns .Values.webhooks.excludedNamespaces | uniq -}}
{{- include "tracegate.flowList" $ns -}}
{{- end }}

{{/*
A list of strings as a YAML flow sequence, spaced as the rest of the templates write them.
*/}}
{{- define "tracegate.flowList" -}}
{{- toJson . | replace "\",\"" "\", \"" -}}
{{- end }}

{{/*
The recorder's user name, as the apiserver reports it (FlowSchema subject, provenance trustedUsers).
*/}}
{{- define "tracegate.recorderUser" -}}
system:serviceaccount:{{ .Release.Namespace }}:tracegate-recorder
{{- end }}

{{/*
The pod annotations of a component: the release's provenance (Chart.yaml annotations, so
`tracegate check` holds the install to tracegate's own provenance policy) under the component's
podAnnotations. Call with (dict "root" $ "extra" .Values.gate.podAnnotations).
*/}}
{{- define "tracegate.podAnnotations" -}}
{{- $a := dict "tracegate.io/commit" (index .root.Chart.Annotations "tracegate.io/commit") "tracegate.io/approver" (index .root.Chart.Annotations "tracegate.io/approver") -}}
{{- toYaml (merge (deepCopy .extra) $a) -}}
{{- end }}

{{/*
The caBundle line of a webhook's clientConfig, by certificate mode: self and cert-manager inject it
after install (the recorder; cert-manager's cainjector), provided gives it here.
*/}}
{{- define "tracegate.caBundle" -}}
{{- if and (eq .Values.certs.mode "provided") (not .Values.certs.provided.omitCaBundle) -}}
caBundle: {{ required "certs.provided.caBundle is required when certs.mode is provided (or set certs.provided.omitCaBundle when something else injects it)" .Values.certs.provided.caBundle }}
{{- end -}}
{{- end }}

{{/*
The annotation that makes cert-manager's cainjector write the CA of the serving certificate into a
webhook configuration.
*/}}
{{- define "tracegate.webhookAnnotations" -}}
{{- if eq .Values.certs.mode "cert-manager" -}}
annotations:
  cert-manager.io/inject-ca-from: {{ .Release.Namespace }}/tracegate-serving
{{- end -}}
{{- end }}

{{/*
The TracegatePolicy objects the chart installs (policies.source cluster or both), as a JSON list of
{name, labels, annotations, spec}: the bundled files (when "bundled") and policies.extra, each file's
version, description and owner moved into spec (ObjectMeta has none), and the bundled provenance
policy's trusted recorder made the release's. One definition for the objects (policies.yaml) and the
audit's copy of them (recorder/audit-policies.yaml), so both hold the same policies.
Call with (dict "root" $ "bundled" true|false).
*/}}
{{- define "tracegate.policyObjects" -}}
{{- $root := .root }}
{{- $recorder := include "tracegate.recorderUser" $root }}
{{- $docs := list }}
{{- if .bundled }}
{{- range $path, $_ := $root.Files.Glob "files/policies/*.yaml" }}
{{- $docs = append $docs ($root.Files.Get $path | fromYaml) }}
{{- end }}
{{- end }}
{{- $docs = concat $docs $root.Values.policies.extra }}
{{- $out := list }}
{{- range $doc := $docs }}
{{- $meta := $doc.metadata | default dict }}
{{- $spec := deepCopy (required "every policy needs a spec" $doc.spec) }}
{{- range $key := list "version" "description" "owner" }}
{{- if hasKey $meta $key }}{{ $_ := set $spec $key (toString (index $meta $key)) }}{{ end }}
{{- end }}
{{- range $rule := $spec.rules }}
{{- with $rule.provenance }}
{{- if .trustedUsers }}
{{- $users := list }}
{{- range .trustedUsers }}
{{- $users = append $users (ternary $recorder . (eq . "system:serviceaccount:tracegate:tracegate-recorder")) }}
{{- end }}
{{- $_ := set . "trustedUsers" $users }}
{{- end }}
{{- end }}
{{- end }}
{{- $out = append $out (dict "name" (required "every policy needs metadata.name" $meta.name) "labels" ($meta.labels | default dict) "annotations" ($meta.annotations | default dict) "spec" $spec) }}
{{- end }}
{{- toJson $out -}}
{{- end }}

{{/*
The policies the recorder's audit judges: what the gate enforces, from the same source
(`--policy-source`, the image's files and/or the TracegatePolicy objects, followed live and read-only).
Returns JSON {"args": [...], "enabled": bool, "cluster": bool}; cluster: the recorder reads the objects.
*/}}
{{- define "tracegate.audit" -}}
{{- $args := list (printf "--policy-source=%s" .Values.policies.source) }}
{{- toJson (dict "args" $args "enabled" .Values.audit.enabled "cluster" (ne .Values.policies.source "files")) -}}
{{- end }}
