package dataplane

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/canarylab/canarylab/sim/metricstore"
)

// Meshes the data plane can produce telemetry for; "" is Istio.
const (
	MeshIstio   = "istio"
	MeshLinkerd = "linkerd"
)

// ErrUnknownMesh is returned for a Config.Mesh the data plane does not model.
var ErrUnknownMesh = errors.New("unknown service mesh")

// mesh is what the telemetry of one service mesh's proxies differs in.
// Implementations: istio (istio.go) and linkerd (linkerd.go).
type mesh interface {
	// bounds are the latency histogram's finite bucket bounds in ms.
	bounds() []float64
	// metricNames are the request counter's and the latency histogram's
	// names, the histogram's without its _bucket, _sum and _count suffixes.
	metricNames() (counter, histogram string)
	// keys appends the series that count a batch answered with code; none
	// where no proxy of the mesh sees it.
	keys(dst []seriesKey, hop hop, code string) []seriesKey
	// labels is a series' label set, without metric name and le.
	labels(key seriesKey) labels.Labels
}

func newMesh(cfg Config) (mesh, error) {
	switch cfg.Mesh {
	case "", MeshIstio:
		return istio{namespace: cfg.Namespace}, nil
	case MeshLinkerd:
		port := cfg.Port
		if port == 0 {
			port = 80
		}
		return linkerd{namespace: cfg.Namespace, port: strconv.Itoa(port)}, nil
	}
	return nil, fmt.Errorf("mesh %q: %w (want %q or %q)", cfg.Mesh, ErrUnknownMesh, MeshIstio, MeshLinkerd)
}

// maxBuckets is the most latency buckets, +Inf included, any mesh has; it
// sizes the per-batch arrays so serving a batch does not allocate.
const maxBuckets = 26

// hop is a batch of requests from a client to one Service's endpoints.
type hop struct {
	client    client
	authority string // the host the client addressed; "" is service
	service   string // the Service the route chose
	workload  string // of the ReplicaSet that served it; "" if none was ready
}

// client is the workload requests come from.
type client struct{ workload, namespace, serviceAccount string }

var ingressGateway = client{workload: "istio-ingressgateway", namespace: "istio-system", serviceAccount: "istio-ingressgateway-service-account"}

// loadtester is Flagger's load generator, deployed in the app's namespace
// as in Flagger's tutorials.
func loadtester(namespace string) client {
	return client{workload: "flagger-loadtester", namespace: namespace, serviceAccount: "default"}
}

type seriesKey struct {
	reporter string // Istio's reporter, Linkerd's direction
	host     string // Istio's destination_service, Linkerd's authority
	code     string
	flags    string // Istio's response_flags
	workload string
	client   client
}

func (a seriesKey) less(b seriesKey) bool {
	switch {
	case a.reporter != b.reporter:
		return a.reporter < b.reporter
	case a.host != b.host:
		return a.host < b.host
	case a.code != b.code:
		return a.code < b.code
	case a.flags != b.flags:
		return a.flags < b.flags
	case a.workload != b.workload:
		return a.workload < b.workload
	case a.client.workload != b.client.workload:
		return a.client.workload < b.client.workload
	}
	return a.client.namespace < b.client.namespace
}

// Telemetry is the request metrics the mesh's proxies expose, as
// Prometheus stores them: a request counter and a latency histogram in
// milliseconds per series.
type Telemetry struct {
	mesh   mesh
	series map[seriesKey]*seriesValues
	keys   []seriesKey // scratch for mesh.keys
	// Metric names and le values, built once.
	counter, sum, count, bucket string
	les                         []string
}

type seriesValues struct {
	requests float64
	buckets  []float64 // cumulative counts over the mesh's bounds and +Inf
	sum      float64
	// Label sets, built once.
	requestLabels, sumLabels, countLabels labels.Labels
	bucketLabels                          []labels.Labels
	// refs cache the TSDB series references: request, sum, count, buckets.
	refs []storage.SeriesRef
}

func newTelemetry(m mesh) *Telemetry {
	counter, histogram := m.metricNames()
	t := &Telemetry{mesh: m, series: map[seriesKey]*seriesValues{},
		counter: counter, sum: histogram + "_sum", count: histogram + "_count", bucket: histogram + "_bucket"}
	for _, bound := range m.bounds() {
		t.les = append(t.les, strconv.FormatFloat(bound, 'f', -1, 64))
	}
	t.les = append(t.les, "+Inf")
	return t
}

func (t *Telemetry) values(key seriesKey) *seriesValues {
	if values, ok := t.series[key]; ok {
		return values
	}
	values := &seriesValues{buckets: make([]float64, len(t.les)), refs: make([]storage.SeriesRef, len(t.les)+3)}
	base := t.mesh.labels(key)
	with := func(name string, extra ...string) labels.Labels {
		builder := labels.NewBuilder(base)
		builder.Set(labels.MetricName, name)
		for i := 0; i+1 < len(extra); i += 2 {
			builder.Set(extra[i], extra[i+1])
		}
		return builder.Labels()
	}
	values.requestLabels = with(t.counter)
	values.sumLabels = with(t.sum)
	values.countLabels = with(t.count)
	for _, le := range t.les {
		values.bucketLabels = append(values.bucketLabels, with(t.bucket, "le", le))
	}
	t.series[key] = values
	return values
}

// record adds k requests of a hop answered with code, with their
// non-cumulative latency bucket counts, to every series that counts them.
// Nil buckets mean answered at once (no endpoint): every bucket, no time.
func (t *Telemetry) record(h hop, code string, k int64, buckets []int64, meanMs float64) {
	if k == 0 {
		return
	}
	t.keys = t.mesh.keys(t.keys[:0], h, code)
	for _, key := range t.keys {
		values := t.values(key)
		values.requests += float64(k)
		if buckets == nil {
			for i := range values.buckets {
				values.buckets[i] += float64(k)
			}
			continue
		}
		values.sum += float64(k) * meanMs
		var cumulative int64
		for i, count := range buckets {
			cumulative += count
			values.buckets[i] += float64(cumulative)
		}
	}
}

// Scrape returns every series' current value, as a Prometheus scrape of
// the proxies would see them, in a stable order.
func (t *Telemetry) Scrape() []metricstore.Sample {
	keys := make([]seriesKey, 0, len(t.series))
	for key := range t.series {
		keys = append(keys, key)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].less(keys[j]) })
	samples := make([]metricstore.Sample, 0, len(keys)*(len(t.les)+3))
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

// Schema is what a mesh's telemetry, as the data plane produces it, can
// hold: each metric name with its label names (le for the histogram's
// buckets). It is what a query can select: another metric or label never
// has data.
func Schema(meshName string) (map[string][]string, error) {
	m, err := newMesh(Config{Mesh: meshName, Namespace: "default"})
	if err != nil {
		return nil, err
	}
	var names []string
	m.labels(seriesKey{reporter: "destination", host: "x", code: "200", flags: "-", workload: "x"}).Range(func(l labels.Label) {
		names = append(names, l.Name)
	})
	counter, histogram := m.metricNames()
	return map[string][]string{
		counter:               names,
		histogram + "_bucket": append(append([]string{}, names...), "le"),
		histogram + "_sum":    names,
		histogram + "_count":  names,
	}, nil
}
