package platform

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/canarylab/canarylab/cluster/local/controlplane"
)

// The embedded pins parse and agree with the versions the rest of
// canarylab pins (the sim models Argo Rollouts v1.10.2, the local backend
// builds it and takes Istio's CRDs from istio.io/api at Istio's version).
func TestEmbeddedVersions(t *testing.T) {
	t.Parallel()
	v, err := LoadVersions()
	if err != nil {
		t.Fatal(err)
	}
	if v.ArgoRollouts.Version != controlplane.ArgoRolloutsVersion {
		t.Errorf("Argo Rollouts %s in %s, %s in controlplane: move them together", v.ArgoRollouts.Version, VersionsFile, controlplane.ArgoRolloutsVersion)
	}
	if v.ArgoRollouts.Image != "quay.io/argoproj/argo-rollouts:"+v.ArgoRollouts.Version &&
		!strings.HasPrefix(v.ArgoRollouts.Image, "quay.io/argoproj/argo-rollouts:"+v.ArgoRollouts.Version+"@sha256:") {
		t.Errorf("Argo Rollouts image %s is not the pinned version %s", v.ArgoRollouts.Image, v.ArgoRollouts.Version)
	}
	if "v"+v.Istio.Version != controlplane.IstioAPIVersion {
		t.Errorf("Istio %s in %s, istio.io/api %s in controlplane: move them together", v.Istio.Version, VersionsFile, controlplane.IstioAPIVersion)
	}
	if !regexp.MustCompile(`^quay\.io/prometheus/prometheus:v3\.\d+\.\d+@sha256:[0-9a-f]{64}$`).MatchString(v.Prometheus.Image) {
		t.Errorf("Prometheus image %s is not a v3 release pinned by tag and digest", v.Prometheus.Image)
	}
	if !hexDigest.MatchString(v.ArgoRollouts.SHA256) {
		t.Errorf("the Argo Rollouts manifest's digest %q is not a sha256", v.ArgoRollouts.SHA256)
	}
	var names []string
	for _, chart := range v.Istio.Charts {
		names = append(names, chart.Name)
	}
	if strings.Join(names, ",") != "base,istiod,gateway" {
		t.Errorf("Istio charts %v, want base, istiod, gateway", names)
	}
	if got, want := v.Istio.URL("istiod"), "https://istio-release.storage.googleapis.com/charts/istiod-1.31.1.tgz"; got != want {
		t.Errorf("istiod chart URL %s, want %s", got, want)
	}
}

func TestParseVersionsReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := ParseVersions([]byte(`
argoRollouts:
  version: v1.10.2
  module: github.com/argoproj/argo-rollouts
  sha256: not-a-digest
  image: argo-rollouts
prometheus:
  image: quay.io/prometheus/prometheus:v3.15.0
istio:
  version: 1.31.1
  repository: http://insecure.example/charts
  charts:
    - {name: base, sha256: TODO-fill-on-a-machine-with-network}
    - {name: base, sha256: TODO-fill-on-a-machine-with-network}
`))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		"argoRollouts.manifest: missing",
		`argoRollouts.sha256: "not-a-digest" is neither a sha256`,
		`argoRollouts.image: "argo-rollouts" is not an image pinned by tag`,
		"istio.repository: \"http://insecure.example/charts\": use an https URL",
		`istio.charts[1]: chart "base" is listed twice`,
		"istio.charts: no entry for the istiod chart",
		"istio.charts: no entry for the gateway chart",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}

	_, err = ParseVersions([]byte("prometheus:\n  image: quay.io/prometheus/prometheus:v3.15.0\n  tag: v3\n"))
	if err == nil || !strings.Contains(err.Error(), `unknown field "tag"`) {
		t.Errorf("an unknown field: %v, want it refused", err)
	}
}

func TestVerifyDigest(t *testing.T) {
	t.Parallel()
	data := []byte("kind: Deployment\n")
	right := SHA256(data)
	tests := []struct {
		name   string
		pinned string
		want   error
		says   []string
	}{
		{"right", right, nil, nil},
		{"wrong", strings.Repeat("0", 64), ErrDigestMismatch, []string{"has sha256 " + right, "pins " + strings.Repeat("0", 64), "refusing"}},
		{"todo", DigestTODO, ErrDigestMissing, []string{"canarylab platform digests", VersionsFile, "rebuild"}},
		{"empty", "", ErrDigestMissing, []string{"canarylab platform digests"}},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			t.Parallel()
			err := VerifyDigest("the thing", "thing.sha256", data, test.pinned)
			if !errors.Is(err, test.want) || (test.want == nil) != (err == nil) {
				t.Fatalf("error %v, want %v", err, test.want)
			}
			for _, says := range test.says {
				if !strings.Contains(err.Error(), says) {
					t.Errorf("error %q does not say %q", err, says)
				}
			}
			if err != nil && !strings.Contains(err.Error(), "the thing") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}
