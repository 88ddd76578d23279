package platform

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// countingClient answers every request with handler (nil: fails it) and
// counts them; no request leaves the process.
func countingClient(t *testing.T, handler http.Handler) (*http.Client, *int64) {
	t.Helper()
	var requests int64
	return &http.Client{Transport: roundTripper(func(req *http.Request) (*http.Response, error) {
		atomic.AddInt64(&requests, 1)
		if handler == nil {
			t.Errorf("unexpected request %s", req.URL)
			return nil, errors.New("no network in this test")
		}
		recorder := httptest.NewRecorder()
		handler.ServeHTTP(recorder, req)
		return recorder.Result(), nil
	})}, &requests
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// tinyArchive packages testdata/tiny as `helm package` does.
func tinyArchive(t *testing.T) []byte {
	t.Helper()
	loaded, err := loader.LoadDir("testdata/tiny")
	if err != nil {
		t.Fatal(err)
	}
	path, err := chartutil.Save(loaded, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func kubeVersion(version string) *chartutil.Capabilities {
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = chartutil.KubeVersion{Version: version, Major: "1", Minor: strings.Split(version, ".")[1]}
	return caps
}

func TestRenderChart(t *testing.T) {
	t.Parallel()
	release := Release{Name: "tiny-ingress", Namespace: "tiny-system", Values: map[string]any{
		"service": map[string]any{"type": "NodePort", "ports": []any{
			map[string]any{"name": "http2", "port": 80, "targetPort": 8080, "nodePort": 30080},
		}},
	}}
	objects, err := RenderChartArchive(tinyArchive(t), release, kubeVersion("v1.37.0"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, obj := range objects {
		got = append(got, describe(obj))
	}
	// The CRD of crds/ first, then the templates in install order; the
	// hook and the old-Kubernetes ConfigMap are not rendered, NOTES.txt
	// is dropped, the Deployment gets the release's namespace.
	want := []string{
		"CustomResourceDefinition widgets.tiny.canarylab.dev",
		"ClusterRole tiny-ingress",
		"Service tiny-system/tiny-ingress",
		"Deployment tiny-system/tiny-ingress",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("rendered %v, want %v", got, want)
	}
	service := objects[2]
	if port := nodePortOf(service, "http2"); port != 30080 {
		t.Errorf("http2 nodePort %d, want 30080 from the values", port)
	}
	if kind, _, _ := unstructured.NestedString(service.Object, "spec", "type"); kind != "NodePort" {
		t.Errorf("Service type %s, want NodePort", kind)
	}
	labels := objects[3].GetLabels()
	if labels["app"] != "tiny-ingress" || labels["tiny"] != "ingress" {
		t.Errorf("Deployment labels %v: the helpers did not render", labels)
	}
	replicas, _, _ := unstructured.NestedInt64(objects[3].Object, "spec", "replicas")
	if replicas != 1 {
		t.Errorf("replicas %d, want the chart's default 1", replicas)
	}

	// The chart asks for the Kubernetes version it renders for.
	old, err := RenderChartArchive(tinyArchive(t), release, kubeVersion("v1.19.0"))
	if err != nil {
		t.Fatal(err)
	}
	if find(old, "ConfigMap", "tiny-system", "tiny-ingress-old-kubernetes") == nil {
		t.Error("rendered for Kubernetes 1.19, the chart's ConfigMap for it is missing")
	}
}

func TestRenderChartRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		values map[string]any
		says   string
	}{
		{"values against the schema", map[string]any{"replicas": "two"}, "replicas"},
		{"hooks", map[string]any{"withHook": true}, "has Helm hooks, which canarylab does not run: tiny/templates/hook.yaml (Job tiny-migrate)"},
	}
	for _, test := range tests {
		_, err := RenderChartArchive(tinyArchive(t), Release{Name: "tiny", Namespace: "default", Values: test.values}, nil)
		if err == nil || !strings.Contains(err.Error(), test.says) || !strings.Contains(err.Error(), "chart tiny 0.1.0") {
			t.Errorf("%s: error %v, want one naming the chart and saying %q", test.name, err, test.says)
		}
		t.Logf("%s: %v", test.name, err)
	}
}

// testVersions pins the tiny chart's archive as each of Istio's charts.
func testVersions(t *testing.T, digest string) *Versions {
	t.Helper()
	v := *versions(t)
	v.Istio.Charts = nil
	for _, name := range istioCharts {
		v.Istio.Charts = append(v.Istio.Charts, Chart{Name: name, SHA256: digest})
	}
	return &v
}

func archiveServer(t *testing.T, archive []byte) http.Handler {
	t.Helper()
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !strings.HasPrefix(req.URL.String(), "https://istio-release.storage.googleapis.com/charts/") || !strings.HasSuffix(req.URL.Path, "-1.31.1.tgz") {
			http.NotFound(w, req)
			return
		}
		w.Write(archive)
	})
}

func TestChartFetcher(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	archive := tinyArchive(t)

	t.Run("a wrong digest is refused and not cached", func(t *testing.T) {
		t.Parallel()
		client, requests := countingClient(t, archiveServer(t, archive))
		cache := t.TempDir()
		pinned := strings.Repeat("0", 64)
		fetcher := &ChartFetcher{Versions: testVersions(t, pinned), CacheDir: cache, Client: client}
		_, err := fetcher.Archive(ctx, ChartIstiod)
		if !errors.Is(err, ErrDigestMismatch) {
			t.Fatalf("error %v, want %v", err, ErrDigestMismatch)
		}
		t.Log(err)
		for _, says := range []string{"Istio chart istiod 1.31.1", "https://istio-release.storage.googleapis.com/charts/istiod-1.31.1.tgz", "has sha256 " + SHA256(archive), "pins " + pinned} {
			if !strings.Contains(err.Error(), says) {
				t.Errorf("error %q does not say %q", err, says)
			}
		}
		if *requests != 1 {
			t.Errorf("%d requests, want 1", *requests)
		}
		if entries, _ := os.ReadDir(cache); len(entries) != 0 {
			t.Errorf("the refused archive was cached: %v", entries)
		}
	})

	t.Run("no digest, and no index to check against: no download", func(t *testing.T) {
		t.Parallel()
		client, requests := countingClient(t, archiveServer(t, archive)) // index.yaml: 404
		cache := t.TempDir()
		fetcher := &ChartFetcher{Versions: testVersions(t, DigestTODO), CacheDir: cache, Client: client}
		_, err := fetcher.Archive(ctx, ChartBase)
		if !errors.Is(err, ErrDigestMissing) {
			t.Fatalf("error %v, want %v", err, ErrDigestMissing)
		}
		t.Log(err)
		for _, says := range []string{"Istio chart base 1.31.1", "istio.charts[base].sha256", "index", "404"} {
			if !strings.Contains(err.Error(), says) {
				t.Errorf("error %q does not say %q", err, says)
			}
		}
		if *requests != 1 {
			t.Errorf("%d requests, want 1 (index.yaml)", *requests)
		}
		if entries, _ := os.ReadDir(cache); len(entries) != 0 {
			t.Errorf("something was cached: %v", entries)
		}
	})

	t.Run("the right digest is downloaded once, then cached", func(t *testing.T) {
		t.Parallel()
		client, requests := countingClient(t, archiveServer(t, archive))
		cache := t.TempDir()
		fetcher := &ChartFetcher{Versions: testVersions(t, SHA256(archive)), CacheDir: cache, Client: client}
		for range 2 {
			data, err := fetcher.Archive(ctx, ChartGateway)
			if err != nil {
				t.Fatal(err)
			}
			if SHA256(data) != SHA256(archive) {
				t.Fatal("another archive came back")
			}
		}
		if *requests != 1 {
			t.Errorf("%d requests, want 1 (then the cache)", *requests)
		}
		cached := filepath.Join(cache, "istio-gateway-1.31.1-"+SHA256(archive)+".tgz")
		if _, err := os.Stat(cached); err != nil {
			t.Error(err)
		}
		// A cached archive that changed since is downloaded again.
		if err := os.WriteFile(cached, []byte("tampered"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := fetcher.Archive(ctx, ChartGateway); err != nil {
			t.Fatal(err)
		}
		if *requests != 2 {
			t.Errorf("%d requests, want 2", *requests)
		}
	})
}

func TestDigests(t *testing.T) {
	t.Parallel()
	archive := tinyArchive(t)
	serveArchive := archiveServer(t, archive)
	client, _ := countingClient(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/charts/index.yaml" {
			w.Write([]byte("apiVersion: v1\nentries:\n  base:\n  - version: 1.31.0\n    digest: " + strings.Repeat("1", 64) +
				"\n  - version: 1.31.1\n    digest: " + SHA256(archive) + "\n  istiod:\n  - version: 1.31.1\n    digest: " + strings.Repeat("2f", 32) + "\n"))
			return
		}
		serveArchive.ServeHTTP(w, req)
	}))
	digests, err := Digests(context.Background(), Options{Versions: testVersions(t, DigestTODO), HTTPClient: client, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if len(digests) != 4 {
		t.Fatalf("%d digests, want the three charts and the Argo Rollouts manifest", len(digests))
	}
	base, istiod, gateway, argo := digests[0], digests[1], digests[2], digests[3]
	if base.SHA256 != SHA256(archive) || base.Index != SHA256(archive) || base.Pinned != DigestTODO || base.Matches() {
		t.Errorf("base: %+v", base)
	}
	if istiod.Index != strings.Repeat("2f", 32) {
		t.Errorf("istiod: the index's digest %q, want the one it lists", istiod.Index)
	}
	if gateway.Index != "" || !strings.Contains(gateway.IndexError, "lists no gateway 1.31.1") {
		t.Errorf("gateway: %+v, want the index to list nothing", gateway)
	}
	if !strings.Contains(gateway.Field, "gateway") || gateway.Source != "https://istio-release.storage.googleapis.com/charts/gateway-1.31.1.tgz" {
		t.Errorf("gateway: %+v", gateway)
	}
	if base.Chart != ChartBase || gateway.Chart != ChartGateway || argo.Chart != "" {
		t.Errorf("charts %q, %q, %q, want base, gateway and none", base.Chart, gateway.Chart, argo.Chart)
	}
	if argo.Field != "argoRollouts.sha256" || !argo.Matches() {
		t.Errorf("the Argo Rollouts manifest: %+v, want the pinned digest", argo)
	}
}
