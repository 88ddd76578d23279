package platform

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// Digest is one file versions.yaml pins by sha256, and what it hashes to.
type Digest struct {
	// Field is its entry in versions.yaml.
	Field string
	// Chart names the Istio chart ("" for a file that is not one).
	Chart string
	// Source is where it was read: a URL, or module@version/path.
	Source string
	// SHA256 is the file's digest as read now.
	SHA256 string
	// Index is the digest the chart repository's index.yaml lists for the
	// chart version ("" when it lists none, or for files that are not
	// charts); IndexError says why it could not be read.
	Index      string
	IndexError string
	// Pinned is what versions.yaml holds.
	Pinned string
}

// Matches says whether the file is what versions.yaml pins.
func (d Digest) Matches() bool { return d.SHA256 == d.Pinned }

// Digests downloads every file versions.yaml pins by sha256 (Istio's chart
// archives; the Argo Rollouts manifest from the module cache) without
// checking it, and returns their digests next to the pins and to the chart
// repository's own index: what to write into versions.yaml, on a machine
// with network. It trusts what it downloads; the index, served from the
// same place, catches a corrupt download, not a compromised repository.
func Digests(ctx context.Context, opts Options) ([]Digest, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	istio := opts.Versions.Istio
	index, indexErr := chartIndexDigests(ctx, opts.HTTPClient, strings.TrimSuffix(istio.Repository, "/")+"/index.yaml", istio.Version)
	var digests []Digest
	for _, chart := range istio.Charts {
		url := istio.URL(chart.Name)
		data, err := download(ctx, opts.HTTPClient, url)
		if err != nil {
			return nil, fmt.Errorf("Istio chart %s %s: %w", chart.Name, istio.Version, err)
		}
		digest := Digest{Field: chartField(chart.Name), Chart: chart.Name, Source: url, SHA256: SHA256(data), Pinned: chart.SHA256}
		if indexErr != nil {
			digest.IndexError = indexErr.Error()
		} else if digest.Index = index[chart.Name]; digest.Index == "" {
			digest.IndexError = "index.yaml lists no " + chart.Name + " " + istio.Version
		}
		digests = append(digests, digest)
	}
	argo := opts.Versions.ArgoRollouts
	dir, err := opts.Builder.ModuleDir(ctx, argo.Module, argo.Version)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(argo.Manifest)))
	if err != nil {
		return nil, err
	}
	digests = append(digests, Digest{Field: "argoRollouts.sha256", Source: argo.Module + "@" + argo.Version + "/" + argo.Manifest,
		SHA256: SHA256(data), Pinned: argo.SHA256})
	return digests, nil
}

// chartIndexDigests reads a chart repository's index.yaml (Helm's:
// entries.<chart>[].version and .digest, the archive's sha256): the digest
// of each chart at version, by chart name, in lower-case hex (a "sha256:"
// prefix dropped).
func chartIndexDigests(ctx context.Context, client *http.Client, indexURL, version string) (map[string]string, error) {
	data, err := download(ctx, client, indexURL)
	if err != nil {
		return nil, err
	}
	var index struct {
		Entries map[string][]struct {
			Version string `json:"version"`
			Digest  string `json:"digest"`
		} `json:"entries"`
	}
	if err := yaml.Unmarshal(data, &index); err != nil {
		return nil, fmt.Errorf("the chart repository's index.yaml (%s): %w", indexURL, err)
	}
	digests := map[string]string{}
	for name, versions := range index.Entries {
		for _, entry := range versions {
			if entry.Version == version {
				digests[name] = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(entry.Digest), "sha256:"))
			}
		}
	}
	return digests, nil
}
