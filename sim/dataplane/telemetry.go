package dataplane

import (
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/canarylab/canarylab/sim/metricstore"
)

// Telemetry holds Istio's standard HTTP metrics as the ingress gateway
// (reporter="source") and the workload's sidecar (reporter="destination")
// report them: istio_requests_total and the
// istio_request_duration_milliseconds histogram (Istio metrics reference,
// istio.io docs/reference/config/metrics). Label values follow what Istio
// derives for an Argo Rollouts pod: destination_workload is the Rollout name
// (Istio strips rollouts-pod-template-hash from the ReplicaSet name), and
// destination_service is the FQDN of the Service the route sent it to.
type Telemetry struct {
	namespace, app string
	series         map[seriesKey]*seriesValues
}

type seriesKey struct {
	reporter, host, code, flags string
}

type seriesValues struct {
	requests float64
	buckets  [20]float64 // cumulative counts over EnvoyBuckets and +Inf
	sum      float64
	// Label sets, built once.
	requestLabels, sumLabels, countLabels labels.Labels
	bucketLabels                          []labels.Labels
	// refs cache the TSDB series references: request, sum, count, buckets.
	refs [23]storage.SeriesRef
}

func newTelemetry(namespace, app string) *Telemetry {
	return &Telemetry{namespace: namespace, app: app, series: map[seriesKey]*seriesValues{}}
}

func (t *Telemetry) values(key seriesKey) *seriesValues {
	if values, ok := t.series[key]; ok {
		return values
	}
	values := &seriesValues{}
	base := t.labels(key)
	with := func(name string, extra ...string) labels.Labels {
		builder := labels.NewBuilder(base)
		builder.Set(labels.MetricName, name)
		for i := 0; i+1 < len(extra); i += 2 {
			builder.Set(extra[i], extra[i+1])
		}
		return builder.Labels()
	}
	values.requestLabels = with("istio_requests_total")
	values.sumLabels = with("istio_request_duration_milliseconds_sum")
	values.countLabels = with("istio_request_duration_milliseconds_count")
	for _, bound := range EnvoyBuckets {
		values.bucketLabels = append(values.bucketLabels, with("istio_request_duration_milliseconds_bucket", "le", strconv.FormatFloat(bound, 'f', -1, 64)))
	}
	values.bucketLabels = append(values.bucketLabels, with("istio_request_duration_milliseconds_bucket", "le", "+Inf"))
	t.series[key] = values
	return values
}

func (t *Telemetry) labels(key seriesKey) labels.Labels {
	fqdn := key.host + "." + t.namespace + ".svc.cluster.local"
	workload, workloadNamespace, app, principal, security := t.app, t.namespace, t.app,
		"spiffe://cluster.local/ns/"+t.namespace+"/sa/default", "mutual_tls"
	if key.reporter == "source" {
		security = "unknown"
	}
	if key.flags == "UH" {
		// Never reached a workload: Istio fills destination workload labels with "unknown".
		workload, workloadNamespace, app, principal = "unknown", "unknown", "unknown", "unknown"
	}
	return labels.FromStrings(
		"reporter", key.reporter,
		"source_workload", "istio-ingressgateway",
		"source_workload_namespace", "istio-system",
		"source_app", "istio-ingressgateway",
		"source_version", "unknown",
		"source_canonical_service", "istio-ingressgateway",
		"source_canonical_revision", "latest",
		"source_principal", "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account",
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
		"destination_service_namespace", t.namespace,
		"destination_cluster", "Kubernetes",
		"request_protocol", "http",
		"response_code", key.code,
		"response_flags", key.flags,
		"grpc_response_status", "",
		"connection_security_policy", security,
	)
}

// record adds k requests answered with code at host, with their latency
// bucket counts, to both reporters.
func (t *Telemetry) record(host, code string, k int64, buckets []int64, meanMs float64) {
	if k == 0 {
		return
	}
	for _, reporter := range []string{"source", "destination"} {
		values := t.values(seriesKey{reporter: reporter, host: host, code: code, flags: "-"})
		values.requests += float64(k)
		values.sum += float64(k) * meanMs
		var cumulative int64
		for i, count := range buckets {
			cumulative += count
			values.buckets[i] += float64(cumulative)
		}
	}
}

// recordNoUpstream adds k requests the gateway answered 503 itself.
func (t *Telemetry) recordNoUpstream(host string, k int64) {
	values := t.values(seriesKey{reporter: "source", host: host, code: "503", flags: "UH"})
	values.requests += float64(k)
	for i := range values.buckets {
		values.buckets[i] += float64(k) // answered at once: every bucket
	}
}

// Scrape returns every series' current value, as a Prometheus scrape of
// the sidecars and the gateway would see them, in a stable order.
func (t *Telemetry) Scrape() []metricstore.Sample {
	keys := make([]seriesKey, 0, len(t.series))
	for key := range t.series {
		keys = append(keys, key)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.reporter != b.reporter {
			return a.reporter < b.reporter
		}
		if a.host != b.host {
			return a.host < b.host
		}
		if a.code != b.code {
			return a.code < b.code
		}
		return a.flags < b.flags
	})
	samples := make([]metricstore.Sample, 0, len(keys)*(len(EnvoyBuckets)+4))
	for _, key := range keys {
		values := t.series[key]
		samples = append(samples,
			metricstore.Sample{Labels: values.requestLabels, Value: values.requests, Ref: &values.refs[0]},
			metricstore.Sample{Labels: values.sumLabels, Value: values.sum, Ref: &values.refs[1]},
			metricstore.Sample{Labels: values.countLabels, Value: values.buckets[len(values.buckets)-1], Ref: &values.refs[2]})
		for i, bucketLabels := range values.bucketLabels {
			samples = append(samples, metricstore.Sample{Labels: bucketLabels, Value: values.buckets[i], Ref: &values.refs[3+i]})
		}
	}
	return samples
}

// ScrapeInto appends a scrape to the store at virtual time at.
func (t *Telemetry) ScrapeInto(store *metricstore.Store, at time.Duration) error {
	return store.Append(at, t.Scrape())
}
