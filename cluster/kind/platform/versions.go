package platform

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/canarylab/canarylab/manifests"
)

// VersionsFile is where the pins live, relative to the repository root; it
// is embedded in the binary (manifests.Platform).
const VersionsFile = "manifests/platform/versions.yaml"

// DigestTODO marks a digest that could not be computed where versions.yaml
// was written. An install refuses a file pinned with it, except an Istio
// chart, which it checks against the chart repository's index instead
// (ChartFetcher).
const DigestTODO = "TODO-fill-on-a-machine-with-network"

var (
	// ErrDigestMissing: versions.yaml has no digest for a file the install
	// needs, so the file is not fetched or used.
	ErrDigestMissing = errors.New("no digest pinned")
	// ErrDigestMismatch: a file's sha256 is not the one versions.yaml pins.
	ErrDigestMismatch = errors.New("digest mismatch")
)

// Versions is manifests/platform/versions.yaml.
type Versions struct {
	ArgoRollouts ArgoRollouts `json:"argoRollouts"`
	Prometheus   Prometheus   `json:"prometheus"`
	Istio        Istio        `json:"istio"`
}

// ArgoRollouts pins the controller's install manifest, read from its Go
// module.
type ArgoRollouts struct {
	Version string `json:"version"`
	Module  string `json:"module"`
	// Manifest is the install manifest's path inside the module.
	Manifest string `json:"manifest"`
	// SHA256 is the manifest's digest, hex.
	SHA256 string `json:"sha256"`
	// Image replaces the manifest's controller image.
	Image string `json:"image"`
}

// Prometheus pins the server's image.
type Prometheus struct {
	Image string `json:"image"`
}

// Istio pins the release whose Helm charts are installed.
type Istio struct {
	Version string `json:"version"`
	// Repository is the chart repository's URL; chart archives are
	// <Repository>/<name>-<Version>.tgz.
	Repository string  `json:"repository"`
	Charts     []Chart `json:"charts"`
}

// Chart is one of Istio's charts and its archive's digest.
type Chart struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

// URL is where the chart archive of this Istio version is downloaded from.
func (i Istio) URL(chart string) string {
	return strings.TrimSuffix(i.Repository, "/") + "/" + chart + "-" + i.Version + ".tgz"
}

// Chart returns the named chart's pin.
func (i Istio) Chart(name string) (Chart, error) {
	for _, chart := range i.Charts {
		if chart.Name == name {
			return chart, nil
		}
	}
	return Chart{}, fmt.Errorf("%s lists no Istio chart %q", VersionsFile, name)
}

// LoadVersions reads the versions.yaml embedded in the binary.
func LoadVersions() (*Versions, error) {
	data, err := manifests.Platform.ReadFile("platform/versions.yaml")
	if err != nil {
		return nil, err
	}
	return ParseVersions(data)
}

var (
	hexDigest  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	imageByTag = regexp.MustCompile(`^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+:[A-Za-z0-9_][A-Za-z0-9_.-]*(@sha256:[0-9a-f]{64})?$`)
)

// ParseVersions decodes versions.yaml strictly (an unknown field is an
// error) and reports every problem at once.
func ParseVersions(data []byte) (*Versions, error) {
	var v Versions
	if err := yaml.UnmarshalStrict(data, &v); err != nil {
		return nil, fmt.Errorf("%s: %w", VersionsFile, err)
	}
	var errs []error
	problem := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s: %s", VersionsFile, field, fmt.Sprintf(format, args...)))
	}
	required := map[string]string{
		"argoRollouts.version": v.ArgoRollouts.Version, "argoRollouts.module": v.ArgoRollouts.Module,
		"argoRollouts.manifest": v.ArgoRollouts.Manifest, "istio.version": v.Istio.Version,
		"istio.repository": v.Istio.Repository,
	}
	for _, field := range []string{"argoRollouts.version", "argoRollouts.module", "argoRollouts.manifest", "istio.version", "istio.repository"} {
		if required[field] == "" {
			problem(field, "missing")
		}
	}
	checkDigest := func(field, digest string) {
		if digest != DigestTODO && !hexDigest.MatchString(digest) {
			problem(field, "%q is neither a sha256 (64 lower-case hex digits) nor %s", digest, DigestTODO)
		}
	}
	checkDigest("argoRollouts.sha256", v.ArgoRollouts.SHA256)
	for field, image := range map[string]string{"argoRollouts.image": v.ArgoRollouts.Image, "prometheus.image": v.Prometheus.Image} {
		if !imageByTag.MatchString(image) {
			problem(field, "%q is not an image pinned by tag (registry/repository:tag, optionally @sha256:digest)", image)
		}
	}
	if v.Istio.Repository != "" && !strings.HasPrefix(v.Istio.Repository, "https://") {
		problem("istio.repository", "%q: use an https URL", v.Istio.Repository)
	}
	seen := map[string]bool{}
	for i, chart := range v.Istio.Charts {
		field := fmt.Sprintf("istio.charts[%d]", i)
		if seen[chart.Name] {
			problem(field, "chart %q is listed twice", chart.Name)
		}
		seen[chart.Name] = true
		checkDigest(field+".sha256", chart.SHA256)
	}
	for _, name := range istioCharts {
		if !seen[name] {
			problem("istio.charts", "no entry for the %s chart", name)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &v, nil
}

// SHA256 is the hex sha256 of data.
func SHA256(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// VerifyDigest checks data (called what in errors) against the digest
// versions.yaml pins for it (field names the entry).
func VerifyDigest(what, field string, data []byte, pinned string) error {
	if pinned == "" || pinned == DigestTODO {
		return missingDigest(what, field, pinned)
	}
	if got := SHA256(data); got != pinned {
		return fmt.Errorf("%w: %s has sha256 %s, but %s pins %s (%s): refusing to use it", ErrDigestMismatch, what, got, VersionsFile, pinned, field)
	}
	return nil
}

func missingDigest(what, field, pinned string) error {
	return fmt.Errorf("%w: %s: %s has no sha256 for it (%s: %q). On a machine with network, run `canarylab platform digests --write` "+
		"in the repository (it writes the sha256 into %s), and rebuild canarylab", ErrDigestMissing, what, VersionsFile, field, pinned, VersionsFile)
}
