package platform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"

	"helm.sh/helm/v3/pkg/chartutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/canarylab/canarylab/cluster/kind/provision"
)

// IstioNamespace is where Istio's control plane, its ingress gateway and
// Prometheus run.
const IstioNamespace = "istio-system"

// Istio's charts, in install order.
const (
	ChartBase    = "base"
	ChartIstiod  = "istiod"
	ChartGateway = "gateway"
)

var istioCharts = []string{ChartBase, ChartIstiod, ChartGateway}

// IngressGatewayRelease is the gateway chart's release name, which names
// its Deployment and Service and, without the istio- prefix, labels its
// pods istio: ingressgateway (the selector of canarylab-gateway).
const IngressGatewayRelease = "istio-ingressgateway"

// maxChartSize bounds a chart download (Istio's are well under 1 MiB).
const maxChartSize = 32 << 20

// istioRelease is how each chart is installed: its release name and values.
// The values are the charts' defaults except where a single-node kind
// cluster needs otherwise.
func istioRelease(chart string) Release {
	switch chart {
	case ChartIstiod:
		return Release{Name: "istiod", Namespace: IstioNamespace, Values: map[string]any{
			"pilot": map[string]any{
				// One replica: the default asks for an autoscaler and
				// 500m CPU / 2Gi, more than a laptop's kind node spares.
				"autoscaleEnabled": false,
				"resources":        map[string]any{"requests": map[string]any{"cpu": "100m", "memory": "256Mi"}},
			},
		}}
	case ChartGateway:
		return Release{Name: IngressGatewayRelease, Namespace: IstioNamespace, Values: map[string]any{
			"autoscaling": map[string]any{"enabled": false},
			"resources":   map[string]any{"requests": map[string]any{"cpu": "50m", "memory": "64Mi"}},
			"service": map[string]any{
				// kind publishes this NodePort on the host
				// (provision.Config); a LoadBalancer would stay pending.
				"type": "NodePort",
				"ports": []any{
					map[string]any{"name": "status-port", "port": 15021, "protocol": "TCP", "targetPort": 15021},
					map[string]any{"name": "http2", "port": 80, "protocol": "TCP", "targetPort": 80, "nodePort": provision.IngressHTTPNodePort},
				},
			},
		}}
	default:
		return Release{Name: "istio-base", Namespace: IstioNamespace}
	}
}

// ChartFetcher downloads Istio's chart archives, checks them against
// versions.yaml and keeps them in a cache directory.
type ChartFetcher struct {
	Versions *Versions
	// CacheDir keeps verified archives (<CacheDir>/istio-<name>-<version>.tgz).
	CacheDir string
	Client   *http.Client
}

// Archive returns the named chart's archive, from the cache or downloaded.
// Without a pinned digest it refuses before downloading anything; an
// archive whose digest differs is not used, and not cached.
func (f *ChartFetcher) Archive(ctx context.Context, name string) ([]byte, error) {
	istio := f.Versions.Istio
	pin, err := istio.Chart(name)
	if err != nil {
		return nil, err
	}
	url := istio.URL(name)
	what := fmt.Sprintf("Istio chart %s %s (%s)", name, istio.Version, url)
	field := "istio.charts[" + name + "].sha256"
	if pin.SHA256 == "" || pin.SHA256 == DigestTODO {
		return nil, missingDigest(what, field, pin.SHA256)
	}
	cached := filepath.Join(f.CacheDir, "istio-"+name+"-"+istio.Version+".tgz")
	if data, err := os.ReadFile(cached); err == nil && SHA256(data) == pin.SHA256 {
		return data, nil
	}
	data, err := download(ctx, f.Client, url)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := VerifyDigest(what, field, data, pin.SHA256); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(cached, data); err != nil {
		return nil, fmt.Errorf("caching %s: %w", what, err)
	}
	return data, nil
}

// download GETs url, bounded by maxChartSize.
func download(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxChartSize+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if len(data) > maxChartSize {
		return nil, fmt.Errorf("GET %s: larger than %d bytes", url, maxChartSize)
	}
	return data, nil
}

func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	temp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.partial")
	if err != nil {
		return err
	}
	_, writeErr := temp.Write(data)
	if err := errors.Join(writeErr, temp.Close()); err != nil {
		os.Remove(temp.Name())
		return err
	}
	return os.Rename(temp.Name(), path)
}

// IstioObjects fetches (or takes from the cache) the named chart, verified,
// and renders it for the cluster caps describes.
func IstioObjects(ctx context.Context, fetcher *ChartFetcher, chart string, caps *chartutil.Capabilities) ([]*unstructured.Unstructured, error) {
	archive, err := fetcher.Archive(ctx, chart)
	if err != nil {
		return nil, err
	}
	objects, err := RenderChartArchive(archive, istioRelease(chart), caps)
	if err != nil {
		return nil, fmt.Errorf("Istio chart %s %s: %w", chart, fetcher.Versions.Istio.Version, err)
	}
	if chart == ChartBase {
		// The charts expect the namespace to exist (helm install
		// --create-namespace).
		objects = append([]*unstructured.Unstructured{namespaceObject(IstioNamespace)}, objects...)
	}
	return objects, nil
}

// nodePortOf is the nodePort of the named port of a Service object, or 0.
func nodePortOf(service *unstructured.Unstructured, port string) int64 {
	ports, _, _ := unstructured.NestedSlice(service.Object, "spec", "ports")
	for _, entry := range ports {
		p, ok := entry.(map[string]any)
		if !ok || p["name"] != port {
			continue
		}
		switch n := p["nodePort"].(type) {
		case int64:
			return n
		case float64:
			return int64(n)
		case string:
			value, _ := strconv.ParseInt(n, 10, 64)
			return value
		}
	}
	return 0
}
