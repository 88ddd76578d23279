package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

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

// ChartFetcher downloads Istio's chart archives, checks them and keeps
// them in a cache directory.
//
// A chart versions.yaml pins (istio.charts[].sha256) is checked against
// that digest and nothing else. A chart it does not pin (the digest is
// empty or DigestTODO) is checked, on first use, against the digest the
// chart repository's index.yaml lists for it at the pinned version (trust
// on first use: the index comes from the same place as the archive, so it
// catches a corrupt or swapped download, not a compromised repository);
// the verified archive and that digest are cached, later uses take them
// from the cache without the network, and every use logs the pin to
// commit.
type ChartFetcher struct {
	Versions *Versions
	// CacheDir keeps verified archives, by name, version and digest
	// (<CacheDir>/istio-<name>-<version>-<sha256>.tgz), and, for a chart
	// versions.yaml does not pin, the digest the index listed on first use
	// (<CacheDir>/istio-<name>-<version>.index.json).
	CacheDir string
	Client   *http.Client
	// Log gets the pin to commit for a chart versions.yaml does not pin;
	// nil discards it.
	Log *slog.Logger
}

// Unpinned says whether a digest in versions.yaml is a placeholder (empty,
// or DigestTODO) rather than a sha256.
func Unpinned(digest string) bool { return digest == "" || digest == DigestTODO }

// Archive returns the named chart's archive, from the cache or downloaded.
// An archive whose digest differs from the pinned one (or, unpinned, from
// the index's) is not used, and not cached.
func (f *ChartFetcher) Archive(ctx context.Context, name string) ([]byte, error) {
	pin, err := f.Versions.Istio.Chart(name)
	if err != nil {
		return nil, err
	}
	if Unpinned(pin.SHA256) {
		return f.unpinned(ctx, name, pin.SHA256)
	}
	istio := f.Versions.Istio
	url := istio.URL(name)
	what := fmt.Sprintf("Istio chart %s %s (%s)", name, istio.Version, url)
	cached := f.archivePath(name, pin.SHA256)
	if data, err := os.ReadFile(cached); err == nil && SHA256(data) == pin.SHA256 {
		return data, nil
	}
	data, err := download(ctx, f.Client, url)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := VerifyDigest(what, chartField(name), data, pin.SHA256); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(cached, data); err != nil {
		return nil, fmt.Errorf("caching %s: %w", what, err)
	}
	return data, nil
}

// chartField is the chart's digest in versions.yaml.
func chartField(name string) string { return "istio.charts[" + name + "].sha256" }

func (f *ChartFetcher) archivePath(name, digest string) string {
	return filepath.Join(f.CacheDir, "istio-"+name+"-"+f.Versions.Istio.Version+"-"+digest+".tgz")
}

func (f *ChartFetcher) recordPath(name string) string {
	return filepath.Join(f.CacheDir, "istio-"+name+"-"+f.Versions.Istio.Version+".index.json")
}

// indexRecord is what the cache keeps of a chart verified against the
// index: the digest the index listed, and where.
type indexRecord struct {
	Chart      string `json:"chart"`
	Version    string `json:"version"`
	Repository string `json:"repository"`
	// SHA256 is the digest the index listed, which the archive had.
	SHA256 string `json:"sha256"`
	// Index and URL are where the digest and the archive came from.
	Index string `json:"index"`
	URL   string `json:"url"`
}

// unpinned is Archive for a chart versions.yaml does not pin: from the
// cache if it was verified against the index before, else verified against
// the index now.
func (f *ChartFetcher) unpinned(ctx context.Context, name, placeholder string) ([]byte, error) {
	istio := f.Versions.Istio
	url := istio.URL(name)
	indexURL := strings.TrimSuffix(istio.Repository, "/") + "/index.yaml"
	what := fmt.Sprintf("Istio chart %s %s (%s)", name, istio.Version, url)
	recordPath := f.recordPath(name)
	var record *indexRecord
	if data, err := os.ReadFile(recordPath); err == nil {
		var r indexRecord
		if json.Unmarshal(data, &r) == nil && r.Chart == name && r.Version == istio.Version && r.Repository == istio.Repository && hexDigest.MatchString(r.SHA256) {
			record = &r
		}
	}
	if record != nil {
		if data, err := os.ReadFile(f.archivePath(name, record.SHA256)); err == nil && SHA256(data) == record.SHA256 {
			f.logPin(name, record.SHA256, "cache, verified against "+record.Index+" on first use")
			return data, nil
		}
	}

	digests, err := chartIndexDigests(ctx, f.Client, indexURL, istio.Version)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %s does not pin its sha256 (%s: %q), and the chart repository's index, which it is then checked against, could not be read: %w. "+
			"Run `canarylab platform digests --write` in the repository on a machine with network to pin it, and rebuild canarylab",
			ErrDigestMissing, what, VersionsFile, chartField(name), placeholder, err)
	}
	listed := digests[name]
	if listed != "" && !hexDigest.MatchString(listed) {
		return nil, fmt.Errorf("%w: %s: %s does not pin its sha256 (%s: %q), and the chart repository's index (%s) lists %q for %s %s, not a sha256",
			ErrDigestMissing, what, VersionsFile, chartField(name), placeholder, indexURL, listed, name, istio.Version)
	}
	if listed == "" {
		return nil, fmt.Errorf("%w: %s: %s does not pin its sha256 (%s: %q), and the chart repository's index (%s) lists no digest for %s %s: "+
			"pin one in %s (`canarylab platform digests` prints the sha256 of what it downloads)", ErrDigestMissing, what, VersionsFile, chartField(name), placeholder,
			indexURL, name, istio.Version, VersionsFile)
	}
	if record != nil && record.SHA256 != listed {
		return nil, fmt.Errorf("%w: %s: the chart repository's index (%s) now lists sha256 %s for it, but it listed %s when canarylab first used it "+
			"(recorded in %s): refusing to use it. Pin the digest you trust in %s, or delete %s to trust the index again",
			ErrDigestMismatch, what, indexURL, listed, record.SHA256, recordPath, VersionsFile, recordPath)
	}
	data, err := download(ctx, f.Client, url)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if got := SHA256(data); got != listed {
		return nil, fmt.Errorf("%w: Istio chart %s %s downloaded from %s has sha256 %s, but the chart repository's index (%s) lists %s for it: refusing to use it",
			ErrDigestMismatch, name, istio.Version, url, got, indexURL, listed)
	}
	if err := writeFileAtomic(f.archivePath(name, listed), data); err != nil {
		return nil, fmt.Errorf("caching %s: %w", what, err)
	}
	recorded, err := json.MarshalIndent(indexRecord{Chart: name, Version: istio.Version, Repository: istio.Repository, SHA256: listed, Index: indexURL, URL: url}, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(recordPath, append(recorded, '\n')); err != nil {
		return nil, fmt.Errorf("caching %s: %w", what, err)
	}
	f.logPin(name, listed, indexURL)
	return data, nil
}

// logPin logs the line that says which digest to commit for an unpinned
// chart.
func (f *ChartFetcher) logPin(name, digest, verified string) {
	if f.Log == nil {
		return
	}
	f.Log.Warn(PinLine(name, f.Versions.Istio.Version, digest), "verified", verified)
}

// PinLine is the line logged for a chart versions.yaml does not pin: the
// digest to commit there.
func PinLine(chart, version, digest string) string {
	return fmt.Sprintf("istio %s %s is not pinned: pin sha256 %s in %s (%s; canarylab platform digests --write does it, then rebuild canarylab)",
		chart, version, digest, VersionsFile, chartField(chart))
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
	return istioObjects(archive, chart, fetcher.Versions.Istio.Version, caps)
}

// istioObjects renders a verified chart archive as the install does.
func istioObjects(archive []byte, chart, version string, caps *chartutil.Capabilities) ([]*unstructured.Unstructured, error) {
	objects, err := RenderChartArchive(archive, istioRelease(chart), caps)
	if err != nil {
		return nil, fmt.Errorf("Istio chart %s %s: %w", chart, version, err)
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
