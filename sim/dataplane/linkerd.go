package dataplane

import "github.com/prometheus/prometheus/model/labels"

// linkerd is the inbound side of the Linkerd proxy's HTTP metrics,
// response_total and the response_latency_ms histogram, with the labels
// linkerd-viz's Prometheus relabeling adds (namespace, and deployment from
// the pod's linkerd.io/proxy-deployment label), which Flagger's built-in
// Linkerd queries select on. Series are per workload, not per pod: the
// queries sum over pods. A request that finds no ready endpoint is answered
// by the client's proxy and never reaches an inbound proxy, and the outbound
// side is not modelled, so it leaves no series.
type linkerd struct{ namespace, port string }

// LinkerdBuckets are the Linkerd proxy's response latency bucket bounds in
// milliseconds (linkerd/linkerd2-proxy linkerd/metrics/src/latency.rs,
// BOUNDS, as of commit 23be602c; later proxies keep fewer).
var LinkerdBuckets = []float64{1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1000, 2000, 3000, 4000, 5000, 10000, 20000, 30000, 40000, 50000}

func (linkerd) bounds() []float64 { return LinkerdBuckets }

func (linkerd) metricNames() (string, string) { return "response_total", "response_latency_ms" }

func (linkerd) keys(dst []seriesKey, h hop, code string) []seriesKey {
	if h.workload == "" {
		return dst
	}
	authority := h.authority
	if authority == "" {
		authority = h.service
	}
	return append(dst, seriesKey{reporter: "inbound", host: authority, code: code, workload: h.workload})
}

func (m linkerd) labels(key seriesKey) labels.Labels {
	classification := "success"
	if key.code != "" && key.code[0] == '5' {
		// The proxy classifies 5xx responses as failures.
		classification = "failure"
	}
	return labels.FromStrings(
		"namespace", m.namespace,
		"deployment", key.workload,
		"direction", key.reporter,
		"authority", key.host+"."+m.namespace+".svc.cluster.local:"+m.port,
		"tls", "true",
		"status_code", key.code,
		"classification", classification,
	)
}
