package dataplane

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/canarylab/canarylab/fixtures"
	"github.com/canarylab/canarylab/scenario/duration"
	"github.com/canarylab/canarylab/sim/metricstore"
	"github.com/canarylab/canarylab/sim/vclock"
)

// podinfoProfiles: the primary's v1 is healthy and fast, the canary's v2
// fails a fifth of its requests and is slow. The p99s sit on bucket bounds
// of both meshes, where histogram_quantile is exact.
var podinfoProfiles = fixtures.Profiles{
	"v1": {ErrorRate: 0.01, Latency: fixtures.Latency{P50: duration.Of(20 * time.Millisecond), P99: duration.Of(100 * time.Millisecond)}, Startup: duration.Ptr(time.Millisecond)},
	"v2": {ErrorRate: 0.2, Latency: fixtures.Latency{P50: duration.Of(100 * time.Millisecond), P99: duration.Of(500 * time.Millisecond)}, Startup: duration.Ptr(time.Millisecond)},
}

// podinfo is podinfo as Flagger runs it: the primary Deployment on v1 and
// the canary Deployment on v2, each selected by its app label, and the
// apex Service routed (primary 50, canary 50). A second of warm-up, out of
// Stats, readies the pods: the world is at time 0.
type podinfo struct {
	loop            *vclock.Loop
	world           *World
	primary, canary *ReplicaSet
}

func newPodinfo(cfg Config) podinfo {
	cfg.Namespace, cfg.App, cfg.StableImage, cfg.RoutedHost = "test", "podinfo", "v1", "podinfo"
	if cfg.Profiles == nil {
		cfg.Profiles = podinfoProfiles
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	loop := vclock.New(-time.Second)
	world := New(loop, cfg)
	p := podinfo{loop: loop, world: world,
		primary: world.CreateWorkloadReplicaSet("podinfo-primary", "p1", "v1"),
		canary:  world.CreateWorkloadReplicaSet("podinfo", "c1", "v2")}
	world.Scale(p.primary, 2)
	world.Scale(p.canary, 1)
	world.SetWorkloadService("podinfo", "podinfo-primary")
	world.SetWorkloadService("podinfo-primary", "podinfo-primary")
	world.SetWorkloadService("podinfo-canary", "podinfo")
	world.SetRoutes([]Route{{Host: "podinfo-primary", Weight: 50}, {Host: "podinfo-canary", Weight: 50}})
	loop.RunUntil(0, nil)
	world.Flush()
	return p
}

// scrapeEvery scrapes the world into a new store every interval from now,
// as Prometheus does.
func scrapeEvery(t testing.TB, loop *vclock.Loop, world *World, interval time.Duration) *metricstore.Store {
	t.Helper()
	store, err := metricstore.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	var scrape func()
	scrape = func() {
		world.Flush()
		if err := world.Telemetry().ScrapeInto(store, loop.Now()); err != nil {
			t.Error(err)
			return
		}
		loop.After(interval, scrape)
	}
	loop.After(0, scrape)
	return store
}

// queryValue runs an instant query that must return one sample.
func queryValue(t testing.TB, store *metricstore.Store, query string, at time.Duration) float64 {
	t.Helper()
	value, err := store.Query(context.Background(), query, at)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	vector, ok := value.(model.Vector)
	if !ok || len(vector) != 1 {
		t.Fatalf("%s: got %v, want one sample", query, value)
	}
	return float64(vector[0].Value)
}

// sumSeries sums the scraped values of a metric over the series whose
// labels include every name-value pair of match.
func sumSeries(samples []metricstore.Sample, metric string, match ...string) float64 {
	var total float64
	for _, sample := range samples {
		if sample.Labels.Get(labels.MetricName) != metric {
			continue
		}
		all := true
		for i := 0; i+1 < len(match); i += 2 {
			if sample.Labels.Get(match[i]) != match[i+1] {
				all = false
			}
		}
		if all {
			total += sample.Value
		}
	}
	return total
}

// Flagger's built-in queries (the Istio and Linkerd metric templates),
// with the target workload as %[1]s.
var flaggerQueries = map[string]struct{ successRate, p99 string }{
	MeshIstio: {
		successRate: `sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="test",destination_workload=~"%[1]s",response_code!~"5.*"}[1m])) / sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="test",destination_workload=~"%[1]s"}[1m])) * 100`,
		p99:         `histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{reporter="destination",destination_workload_namespace="test",destination_workload=~"%[1]s"}[1m])) by (le))`,
	},
	MeshLinkerd: {
		successRate: `sum(rate(response_total{namespace="test",deployment=~"%[1]s",classification!="failure",direction="inbound"}[1m])) / sum(rate(response_total{namespace="test",deployment=~"%[1]s",direction="inbound"}[1m])) * 100`,
		p99:         `histogram_quantile(0.99, sum(rate(response_latency_ms_bucket{namespace="test",deployment=~"%[1]s",direction="inbound"}[1m])) by (le))`,
	},
}

// Flagger's queries see each Deployment's error rate and p99, and the
// anchored =~"podinfo" leaves podinfo-primary out.
func TestFlaggerQueriesMeasureEachWorkload(t *testing.T) {
	t.Parallel()
	for _, mesh := range []string{MeshIstio, MeshLinkerd} {
		t.Run(mesh, func(t *testing.T) {
			t.Parallel()
			p := newPodinfo(Config{Mesh: mesh, RPS: 100_000, Port: 9898})
			store := scrapeEvery(t, p.loop, p.world, 15*time.Second)
			p.loop.RunUntil(2*time.Minute, nil)
			for _, tc := range []struct {
				workload               string
				successRate, p99Ms     float64
				successSlack, p99Slack float64
			}{
				{workload: "podinfo", successRate: 80, p99Ms: 500, successSlack: 0.3, p99Slack: 15},
				{workload: "podinfo-primary", successRate: 99, p99Ms: 100, successSlack: 0.1, p99Slack: 4},
			} {
				queries := flaggerQueries[mesh]
				rate := queryValue(t, store, fmt.Sprintf(queries.successRate, tc.workload), p.loop.Now())
				if math.Abs(rate-tc.successRate) > tc.successSlack {
					t.Errorf("%s success rate %.2f%%, want %v ± %v", tc.workload, rate, tc.successRate, tc.successSlack)
				}
				p99 := queryValue(t, store, fmt.Sprintf(queries.p99, tc.workload), p.loop.Now())
				t.Logf("%s: success rate %.2f%%, p99 %.1fms", tc.workload, rate, p99)
				if math.Abs(p99-tc.p99Ms) > tc.p99Slack {
					t.Errorf("%s p99 %.1fms, want %v ± %v", tc.workload, p99, tc.p99Ms, tc.p99Slack)
				}
			}
		})
	}
}

func TestLinkerdSeriesAsPrometheusStoresThem(t *testing.T) {
	t.Parallel()
	p := newPodinfo(Config{Mesh: MeshLinkerd, RPS: 1000, Port: 9898})
	p.loop.RunUntil(10*time.Second, nil)
	p.world.Flush()
	before := p.world.Telemetry().Scrape()
	canaryFailedBefore := p.world.Stats().Failed["canary"]
	p.world.Scale(p.canary, 0) // the canary's half now finds no endpoint
	p.loop.RunUntil(20*time.Second, nil)
	p.world.Flush()
	samples := p.world.Telemetry().Scrape()

	want := labels.FromStrings(labels.MetricName, "response_total", "namespace", "test", "deployment", "podinfo",
		"direction", "inbound", "classification", "failure", "status_code", "500",
		"authority", "podinfo.test.svc.cluster.local:9898", "tls", "true")
	found := false
	var les []string
	for _, sample := range samples {
		name := sample.Labels.Get(labels.MetricName)
		if strings.HasPrefix(name, "istio_") {
			t.Fatalf("Istio series under Linkerd: %s", sample.Labels)
		}
		if code := sample.Labels.Get("status_code"); code == "503" {
			t.Errorf("a request that found no endpoint reached an inbound proxy: %s", sample.Labels)
		}
		if labels.Equal(sample.Labels, want) {
			found = true
		}
		if name == "response_latency_ms_bucket" && sample.Labels.Get("deployment") == "podinfo" && sample.Labels.Get("status_code") == "500" {
			les = append(les, sample.Labels.Get("le"))
		}
	}
	if !found {
		t.Errorf("no series %s", want)
	}
	var wantLes []string
	for _, bound := range LinkerdBuckets {
		wantLes = append(wantLes, strconv.FormatFloat(bound, 'f', -1, 64))
	}
	wantLes = append(wantLes, "+Inf")
	if strings.Join(les, " ") != strings.Join(wantLes, " ") {
		t.Errorf("bucket bounds %v, want %v", les, wantLes)
	}

	for _, workload := range []string{"podinfo", "podinfo-primary"} {
		requests := sumSeries(samples, "response_total", "deployment", workload)
		count := sumSeries(samples, "response_latency_ms_count", "deployment", workload)
		inf := sumSeries(samples, "response_latency_ms_bucket", "deployment", workload, "le", "+Inf")
		if requests == 0 || count != requests || inf != requests {
			t.Errorf("%s: %v responses, histogram count %v and +Inf bucket %v", workload, requests, count, inf)
		}
	}
	failures := sumSeries(samples, "response_total", "classification", "failure")
	if errors := sumSeries(samples, "response_total", "status_code", "500"); failures != errors || failures == 0 {
		t.Errorf("%v failures for %v responses with 500", failures, errors)
	}
	// Users still saw the canary's requests fail, but no inbound proxy did.
	if failed := p.world.Stats().Failed["canary"] - canaryFailedBefore; failed < 4000 {
		t.Errorf("%d canary requests failed after it scaled to zero, want about 5000", failed)
	}
	was, is := sumSeries(before, "response_total", "deployment", "podinfo"), sumSeries(samples, "response_total", "deployment", "podinfo")
	if was == 0 || is != was {
		t.Errorf("the canary's inbound responses went from %v to %v with no pod", was, is)
	}
}

func TestIstioSeriesCarryTheServingWorkload(t *testing.T) {
	t.Parallel()
	p := newPodinfo(Config{RPS: 100})
	p.loop.RunUntil(10*time.Second, nil)
	p.world.Flush()
	samples := p.world.Telemetry().Scrape()
	for _, tc := range []struct{ service, workload string }{
		{"podinfo-primary", "podinfo-primary"},
		{"podinfo-canary", "podinfo"},
	} {
		for _, reporter := range []string{"source", "destination"} {
			n := sumSeries(samples, "istio_requests_total", "reporter", reporter, "destination_service_name", tc.service,
				"destination_workload", tc.workload, "destination_app", tc.workload, "destination_canonical_service", tc.workload,
				"destination_service", tc.service+".test.svc.cluster.local", "source_workload", "istio-ingressgateway")
			if n == 0 {
				t.Errorf("no %s requests to %s labelled with workload %s", reporter, tc.service, tc.workload)
			}
		}
	}
	mislabelled := sumSeries(samples, "istio_requests_total", "destination_service_name", "podinfo-canary", "destination_workload", "podinfo-primary")
	if mislabelled != 0 {
		t.Errorf("%v canary requests labelled with the primary's workload", mislabelled)
	}

	argo := New(vclock.New(0), Config{Namespace: "test", App: "demo"})
	if rs := argo.CreateReplicaSet("abc", "v1"); rs.Workload != "demo" || rs.Name != "demo-abc" {
		t.Errorf("CreateReplicaSet made %s of workload %q, want demo-abc of demo", rs.Name, rs.Workload)
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg     Config
		wantErr bool
		is      error
	}{
		{cfg: Config{}},
		{cfg: Config{Mesh: MeshIstio}},
		{cfg: Config{Mesh: MeshLinkerd, Port: 9898}},
		{cfg: Config{Mesh: "consul"}, wantErr: true, is: ErrUnknownMesh},
		{cfg: Config{Mesh: MeshLinkerd, Port: 70000}, wantErr: true},
	} {
		err := tc.cfg.Validate()
		if (err != nil) != tc.wantErr || (tc.is != nil && !errors.Is(err, tc.is)) {
			t.Errorf("%+v: error %v, want error %v (%v)", tc.cfg, err, tc.wantErr, tc.is)
		}
	}
}

// With DestinationRule subsets, Istio reports the route's host as
// destination_service (the Service's FQDN): a subset name never appears as
// a service in telemetry.
func TestSubsetRoutesReportTheirService(t *testing.T) {
	t.Parallel()
	loop := vclock.New(0)
	world := New(loop, Config{Namespace: "default", App: "demo", StableImage: "blue", RPS: 100, Seed: 1,
		Profiles: fixtures.Profiles{"blue": {}, "red": {}}})
	stable, canary := world.CreateReplicaSet("s", "blue"), world.CreateReplicaSet("c", "red")
	world.Scale(stable, 2)
	world.Scale(canary, 1)
	world.SetService("stable", "s")
	world.SetService("canary", "c")
	world.SetRoutes([]Route{{Host: "stable", Weight: 80, Service: "demo"}, {Host: "canary", Weight: 20, Service: "demo"}})
	loop.RunUntil(30*time.Second, nil)
	world.Flush()
	samples := world.Telemetry().Scrape()
	for _, workload := range []string{"demo"} {
		if n := sumSeries(samples, "istio_requests_total", "destination_service", "demo.default.svc.cluster.local",
			"destination_service_name", "demo", "destination_workload", workload); n == 0 {
			t.Error("no requests reported to destination_service demo.default.svc.cluster.local")
		}
	}
	for _, subset := range []string{"stable", "canary"} {
		if n := sumSeries(samples, "istio_requests_total", "destination_service_name", subset); n != 0 {
			t.Errorf("%v requests reported with the subset %s as their service", n, subset)
		}
	}
	if stats := world.Stats(); stats.Total["canary"] == 0 || stats.Total["stable"] == 0 {
		t.Errorf("both subsets must still serve: %v", stats.Total)
	}
}

// The Istio series carry exactly the labels of Istio's standard metrics
// (istio.io/latest/docs/reference/config/metrics/, "Labels"), no fewer —
// a query on any of them finds what it would on a real mesh — and no more
// — a query on a label Istio does not write is warned about, not answered.
func TestIstioLabelsAreIstiosStandardSet(t *testing.T) {
	t.Parallel()
	documented := []string{
		"reporter", "source_workload", "source_workload_namespace", "source_principal", "source_app", "source_version",
		"destination_workload", "destination_workload_namespace", "destination_principal", "destination_app", "destination_version",
		"destination_service", "destination_service_name", "destination_service_namespace",
		"request_protocol", "response_code", "grpc_response_status", "response_flags", "connection_security_policy",
		"source_canonical_service", "destination_canonical_service", "source_canonical_revision", "destination_canonical_revision",
		"source_cluster", "destination_cluster",
	}
	schema, err := Schema(MeshIstio)
	if err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(slices.Values(schema["istio_requests_total"]))
	want := slices.Sorted(slices.Values(documented))
	if !slices.Equal(got, want) {
		t.Errorf("istio_requests_total labels\n got %v\nwant %v", got, want)
	}
	if bucket := schema["istio_request_duration_milliseconds_bucket"]; !slices.Contains(bucket, "le") || len(bucket) != len(documented)+1 {
		t.Errorf("istio_request_duration_milliseconds_bucket labels %v: the standard set and le", bucket)
	}
}

// The Linkerd series carry the proxy's response labels (linkerd.io
// "Proxy Metrics": direction, authority, tls, status_code, classification)
// and, of the labels Linkerd's Prometheus adds from the scraped pod,
// namespace and deployment, the ones Flagger's Linkerd queries select;
// per-pod labels (pod, pod_template_hash) are not produced, so a query on
// them is warned about by validate rather than answered.
func TestLinkerdLabels(t *testing.T) {
	t.Parallel()
	schema, err := Schema(MeshLinkerd)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"authority", "classification", "deployment", "direction", "namespace", "status_code", "tls"}
	if got := slices.Sorted(slices.Values(schema["response_total"])); !slices.Equal(got, want) {
		t.Errorf("response_total labels %v, want %v", got, want)
	}
}
