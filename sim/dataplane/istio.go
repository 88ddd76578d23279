package dataplane

import "github.com/prometheus/prometheus/model/labels"

// istio is Istio's standard HTTP metrics as the client's proxy
// (reporter="source": the ingress gateway or the loadtester's sidecar) and
// the workload's sidecar (reporter="destination") report them:
// istio_requests_total and the istio_request_duration_milliseconds
// histogram (Istio metrics reference, istio.io docs/reference/config/metrics).
// destination_workload is the ReplicaSet's workload: the Rollout or
// Deployment name (Istio strips the pod-template hash from the ReplicaSet
// name), and destination_service is the FQDN of the Service the route sent
// the request to.
type istio struct{ namespace string }

// EnvoyBuckets are Envoy's default histogram bucket bounds in milliseconds
// (envoyproxy/envoy source/common/stats/histogram_impl.cc,
// HistogramSettingsImpl::defaultBuckets), which Istio keeps unless
// sidecar.istio.io/statsHistogramBuckets is set.
var EnvoyBuckets = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}

func (istio) bounds() []float64 { return EnvoyBuckets }

func (istio) metricNames() (string, string) {
	return "istio_requests_total", "istio_request_duration_milliseconds"
}

func (istio) keys(dst []seriesKey, h hop, code string) []seriesKey {
	if h.workload == "" {
		// No healthy upstream: the client's proxy answers 503 (response
		// flag UH) and only it reports.
		return append(dst, seriesKey{reporter: "source", host: h.service, code: code, flags: "UH", client: h.client})
	}
	return append(dst,
		seriesKey{reporter: "source", host: h.service, code: code, flags: "-", workload: h.workload, client: h.client},
		seriesKey{reporter: "destination", host: h.service, code: code, flags: "-", workload: h.workload, client: h.client})
}

func (m istio) labels(key seriesKey) labels.Labels {
	fqdn := key.host + "." + m.namespace + ".svc.cluster.local"
	workload, workloadNamespace, app, principal, security := key.workload, m.namespace, key.workload,
		"spiffe://cluster.local/ns/"+m.namespace+"/sa/default", "mutual_tls"
	if key.reporter == "source" {
		security = "unknown"
	}
	if key.flags == "UH" {
		// Never reached a workload: Istio fills destination workload labels with "unknown".
		workload, workloadNamespace, app, principal = "unknown", "unknown", "unknown", "unknown"
	}
	source := key.client
	return labels.FromStrings(
		"reporter", key.reporter,
		"source_workload", source.workload,
		"source_workload_namespace", source.namespace,
		"source_app", source.workload,
		"source_version", "unknown",
		"source_canonical_service", source.workload,
		"source_canonical_revision", "latest",
		"source_principal", "spiffe://cluster.local/ns/"+source.namespace+"/sa/"+source.serviceAccount,
		"source_cluster", "Kubernetes",
		"destination_workload", workload,
		"destination_workload_namespace", workloadNamespace,
		"destination_app", app,
		"destination_version", "unknown",
		"destination_canonical_service", app,
		"destination_canonical_revision", "latest",
		"destination_principal", principal,
		"destination_service", fqdn,
		"destination_service_name", key.host,
		"destination_service_namespace", m.namespace,
		"destination_cluster", "Kubernetes",
		"request_protocol", "http",
		"response_code", key.code,
		"response_flags", key.flags,
		"grpc_response_status", "",
		"connection_security_policy", security,
	)
}
