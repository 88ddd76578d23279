package platform

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
)

// indexYAML is a Helm repository index listing each chart at 1.31.1 with
// the given digest (and at 1.31.0 with another, which must not be taken).
func indexYAML(digests map[string]string) []byte {
	var names []string
	for name := range digests {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("apiVersion: v1\nentries:\n")
	for _, name := range names {
		fmt.Fprintf(&b, "  %s:\n", name)
		fmt.Fprintf(&b, "  - name: %s\n    version: 1.31.1\n    digest: %s\n    urls:\n    - https://istio-release.storage.googleapis.com/charts/%s-1.31.1.tgz\n", name, digests[name], name)
		fmt.Fprintf(&b, "  - name: %s\n    version: 1.31.0\n    digest: %s\n    urls:\n    - %s-1.31.0.tgz\n", name, strings.Repeat("e", 64), name)
	}
	b.WriteString("generated: \"2026-12-02T00:00:00Z\"\n")
	return []byte(b.String())
}

// chartRepository is a chart repository served locally (TLS, as
// versions.yaml wants https): /charts/index.yaml and
// /charts/<chart>-1.31.1.tgz, counting the requests.
type chartRepository struct {
	server *httptest.Server

	mu       sync.Mutex
	index    []byte
	archive  []byte
	requests []string
}

func newChartRepository(t *testing.T, index, archive []byte) *chartRepository {
	t.Helper()
	repo := &chartRepository{index: index, archive: archive}
	repo.server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		repo.mu.Lock()
		defer repo.mu.Unlock()
		repo.requests = append(repo.requests, req.URL.Path)
		switch {
		case req.URL.Path == "/charts/index.yaml" && repo.index != nil:
			w.Write(repo.index)
		case strings.HasPrefix(req.URL.Path, "/charts/") && strings.HasSuffix(req.URL.Path, "-1.31.1.tgz"):
			w.Write(repo.archive)
		default:
			http.NotFound(w, req)
		}
	}))
	t.Cleanup(repo.server.Close)
	return repo
}

func (r *chartRepository) set(index, archive []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.index, r.archive = index, archive
}

// served are the paths requested so far.
func (r *chartRepository) served() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

// versions pins each of Istio's charts with digest, in this repository.
func (r *chartRepository) versions(t *testing.T, digest string) *Versions {
	v := testVersions(t, digest)
	v.Istio.Repository = r.server.URL + "/charts"
	return v
}

func (r *chartRepository) fetcher(t *testing.T, digest, cache string, log *bytes.Buffer) *ChartFetcher {
	return &ChartFetcher{Versions: r.versions(t, digest), CacheDir: cache, Client: r.server.Client(),
		Log: slog.New(slog.NewTextHandler(log, nil))}
}

func TestUnpinnedChartIsVerifiedAgainstTheIndexAndCached(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	archive := tinyArchive(t)
	digest := SHA256(archive)
	repo := newChartRepository(t, indexYAML(map[string]string{ChartBase: digest, ChartIstiod: strings.Repeat("2f", 32)}), archive)
	cache := t.TempDir()

	// First use: index.yaml, then the archive, checked against it.
	var log bytes.Buffer
	data, err := repo.fetcher(t, DigestTODO, cache, &log).Archive(ctx, ChartBase)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, archive) {
		t.Fatal("another archive came back")
	}
	if got, want := repo.served(), []string{"/charts/index.yaml", "/charts/base-1.31.1.tgz"}; !slices.Equal(got, want) {
		t.Errorf("requests %v, want %v", got, want)
	}
	pin := PinLine(ChartBase, "1.31.1", digest)
	if want := "istio base 1.31.1 is not pinned: pin sha256 " + digest + " in manifests/platform/versions.yaml (istio.charts[base].sha256; canarylab platform digests --write does it"; !strings.HasPrefix(pin, want) {
		t.Errorf("pin line %q, want it to start %q", pin, want)
	}
	if lines := strings.Split(strings.TrimSpace(log.String()), "\n"); len(lines) != 1 || !strings.Contains(lines[0], pin) || !strings.Contains(lines[0], "level=WARN") {
		t.Errorf("log %q, want one warning with the pin %q", log.String(), pin)
	}
	t.Log(log.String())
	cached := filepath.Join(cache, "istio-base-1.31.1-"+digest+".tgz")
	if got, err := os.ReadFile(cached); err != nil || !bytes.Equal(got, archive) {
		t.Errorf("the verified archive is not cached as %s: %v", cached, err)
	}

	// A later run (another fetcher, as another process would make): the
	// cache, no request, and the pin again.
	log.Reset()
	data, err = repo.fetcher(t, DigestTODO, cache, &log).Archive(ctx, ChartBase)
	if err != nil || !bytes.Equal(data, archive) {
		t.Fatalf("from the cache: %v", err)
	}
	if got := repo.served(); len(got) != 2 {
		t.Errorf("requests %v: the second use went to the network", got)
	}
	if !strings.Contains(log.String(), pin) {
		t.Errorf("log %q, want the pin again", log.String())
	}

	// The cached archive is checked again on every use: changed, it is
	// downloaded and checked against the index again.
	if err := os.WriteFile(cached, []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	if data, err := repo.fetcher(t, DigestTODO, cache, &log).Archive(ctx, ChartBase); err != nil || !bytes.Equal(data, archive) {
		t.Fatalf("after the cache changed: %v", err)
	}
	if got := repo.served(); len(got) != 4 {
		t.Errorf("requests %v, want index.yaml and the archive again", got)
	}

	// An empty digest is unpinned too.
	if _, err := repo.fetcher(t, "", t.TempDir(), &log).Archive(ctx, ChartBase); err != nil {
		t.Errorf("an empty digest: %v", err)
	}
}

func TestUnpinnedChartThatDiffersFromTheIndexIsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	archive := tinyArchive(t)
	tampered := append(slices.Clone(archive), 0)
	repo := newChartRepository(t, indexYAML(map[string]string{ChartIstiod: SHA256(archive)}), tampered)
	cache := t.TempDir()
	var log bytes.Buffer
	_, err := repo.fetcher(t, DigestTODO, cache, &log).Archive(ctx, ChartIstiod)
	if !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("error %v, want %v", err, ErrDigestMismatch)
	}
	t.Log(err)
	for _, says := range []string{"Istio chart istiod 1.31.1", repo.server.URL + "/charts/istiod-1.31.1.tgz", "has sha256 " + SHA256(tampered),
		"lists " + SHA256(archive), repo.server.URL + "/charts/index.yaml", "refusing"} {
		if !strings.Contains(err.Error(), says) {
			t.Errorf("error %q does not say %q", err, says)
		}
	}
	if entries, _ := os.ReadDir(cache); len(entries) != 0 {
		t.Errorf("the refused archive was cached: %v", entries)
	}
	if log.Len() != 0 {
		t.Errorf("a pin was logged for a refused archive: %s", log.String())
	}
}

func TestUnpinnedChartTheIndexDoesNotList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	archive := tinyArchive(t)
	for name, index := range map[string][]byte{
		"not listed":        indexYAML(map[string]string{ChartBase: SHA256(archive)}),
		"not a sha256":      indexYAML(map[string]string{ChartGateway: "md5:0123"}),
		"no index.yaml":     nil,
		"index.yaml broken": []byte("entries: [\n"),
	} {
		repo := newChartRepository(t, index, archive)
		var log bytes.Buffer
		_, err := repo.fetcher(t, DigestTODO, t.TempDir(), &log).Archive(ctx, ChartGateway)
		if !errors.Is(err, ErrDigestMissing) || !strings.Contains(err.Error(), "Istio chart gateway 1.31.1") || !strings.Contains(err.Error(), "istio.charts[gateway].sha256") {
			t.Errorf("%s: error %v, want %v naming the chart and its entry", name, err, ErrDigestMissing)
		}
		t.Logf("%s: %v", name, err)
		if got := repo.served(); !slices.Equal(got, []string{"/charts/index.yaml"}) {
			t.Errorf("%s: requests %v, want index.yaml only", name, got)
		}
	}
}

// What the index listed on first use is kept: an index that lists another
// digest later is not followed.
func TestUnpinnedChartWhoseIndexChanged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	archive := tinyArchive(t)
	repo := newChartRepository(t, indexYAML(map[string]string{ChartBase: SHA256(archive)}), archive)
	cache := t.TempDir()
	var log bytes.Buffer
	if _, err := repo.fetcher(t, DigestTODO, cache, &log).Archive(ctx, ChartBase); err != nil {
		t.Fatal(err)
	}
	other := append(slices.Clone(archive), 1)
	repo.set(indexYAML(map[string]string{ChartBase: SHA256(other)}), other)
	if err := os.Remove(filepath.Join(cache, "istio-base-1.31.1-"+SHA256(archive)+".tgz")); err != nil {
		t.Fatal(err)
	}
	_, err := repo.fetcher(t, DigestTODO, cache, &log).Archive(ctx, ChartBase)
	if !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("error %v, want %v", err, ErrDigestMismatch)
	}
	t.Log(err)
	for _, says := range []string{"now lists sha256 " + SHA256(other), "listed " + SHA256(archive) + " when canarylab first used it", "istio-base-1.31.1.index.json"} {
		if !strings.Contains(err.Error(), says) {
			t.Errorf("error %q does not say %q", err, says)
		}
	}
}

// A pinned digest is the only one checked: the index is not asked, and
// does not overrule it.
func TestPinnedDigestWinsOverTheIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	archive := tinyArchive(t)

	t.Run("the pin differs from the index and the archive", func(t *testing.T) {
		t.Parallel()
		repo := newChartRepository(t, indexYAML(map[string]string{ChartBase: SHA256(archive)}), archive)
		pinned := strings.Repeat("0", 64)
		cache := t.TempDir()
		var log bytes.Buffer
		_, err := repo.fetcher(t, pinned, cache, &log).Archive(ctx, ChartBase)
		if !errors.Is(err, ErrDigestMismatch) {
			t.Fatalf("error %v, want %v", err, ErrDigestMismatch)
		}
		t.Log(err)
		for _, says := range []string{"Istio chart base 1.31.1", repo.server.URL + "/charts/base-1.31.1.tgz", "has sha256 " + SHA256(archive), "pins " + pinned} {
			if !strings.Contains(err.Error(), says) {
				t.Errorf("error %q does not say %q", err, says)
			}
		}
		if got := repo.served(); !slices.Equal(got, []string{"/charts/base-1.31.1.tgz"}) {
			t.Errorf("requests %v, want the archive only (not the index)", got)
		}
		if entries, _ := os.ReadDir(cache); len(entries) != 0 {
			t.Errorf("the refused archive was cached: %v", entries)
		}
	})

	t.Run("the pin matches the archive, the index lists another", func(t *testing.T) {
		t.Parallel()
		repo := newChartRepository(t, indexYAML(map[string]string{ChartBase: strings.Repeat("1", 64)}), archive)
		var log bytes.Buffer
		if _, err := repo.fetcher(t, SHA256(archive), t.TempDir(), &log).Archive(ctx, ChartBase); err != nil {
			t.Fatal(err)
		}
		if got := repo.served(); !slices.Equal(got, []string{"/charts/base-1.31.1.tgz"}) {
			t.Errorf("requests %v, want the archive only", got)
		}
		if log.Len() != 0 {
			t.Errorf("a pinned chart logged a pin: %s", log.String())
		}
	})
}
