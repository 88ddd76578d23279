package platform

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery/kubernetes"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/canarylab/canarylab/cluster/kind/provision"
	"github.com/canarylab/canarylab/cluster/local/controlplane"
)

func versions(t *testing.T) *Versions {
	t.Helper()
	v, err := LoadVersions()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func find(objects []*unstructured.Unstructured, kind, namespace, name string) *unstructured.Unstructured {
	for _, obj := range objects {
		if obj.GetKind() == kind && obj.GetNamespace() == namespace && obj.GetName() == name {
			return obj
		}
	}
	return nil
}

func container(t *testing.T, deployment *unstructured.Unstructured, name string) map[string]any {
	t.Helper()
	containers, _, _ := unstructured.NestedSlice(deployment.Object, "spec", "template", "spec", "containers")
	for _, entry := range containers {
		if c := entry.(map[string]any); c["name"] == name {
			return c
		}
	}
	t.Fatalf("%s has no container %s", describe(deployment), name)
	return nil
}

// The install manifest comes out of the pinned module (the module cache;
// downloaded through the module proxy on first use), checked against its
// digest, namespaced and with the pinned image.
func TestArgoRolloutsObjects(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	v := versions(t)
	objects, err := ArgoRolloutsObjects(ctx, v, &controlplane.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if first := objects[0]; first.GetKind() != "Namespace" || first.GetName() != ArgoRolloutsNamespace {
		t.Errorf("first object %s, want Namespace %s", describe(first), ArgoRolloutsNamespace)
	}
	deployment := find(objects, "Deployment", "argo-rollouts", "argo-rollouts")
	if deployment == nil {
		t.Fatal("no Deployment argo-rollouts/argo-rollouts")
	}
	controller := container(t, deployment, "argo-rollouts")
	if controller["image"] != v.ArgoRollouts.Image || controller["imagePullPolicy"] != "IfNotPresent" {
		t.Errorf("controller image %v (pull %v), want %s (IfNotPresent)", controller["image"], controller["imagePullPolicy"], v.ArgoRollouts.Image)
	}
	var crds []string
	for _, obj := range objects {
		if obj.GetKind() == "CustomResourceDefinition" {
			crds = append(crds, obj.GetName())
		}
		if isClusterScoped(obj) != (obj.GetNamespace() == "") {
			t.Errorf("%s: cluster-scoped %v but namespace %q", describe(obj), isClusterScoped(obj), obj.GetNamespace())
		}
	}
	slices.Sort(crds)
	want := []string{"analysisruns.argoproj.io", "analysistemplates.argoproj.io", "clusteranalysistemplates.argoproj.io", "experiments.argoproj.io", "rollouts.argoproj.io"}
	if !slices.Equal(crds, want) {
		t.Errorf("CRDs %v, want %v", crds, want)
	}
	for _, expected := range [][3]string{{"ServiceAccount", "argo-rollouts", "argo-rollouts"}, {"ClusterRole", "", "argo-rollouts"}, {"ClusterRoleBinding", "", "argo-rollouts"}, {"Service", "argo-rollouts", "argo-rollouts-metrics"}} {
		if find(objects, expected[0], expected[1], expected[2]) == nil {
			t.Errorf("no %s %s/%s", expected[0], expected[1], expected[2])
		}
	}
	var kinds []string
	for _, obj := range objects {
		kinds = append(kinds, describe(obj))
	}
	t.Logf("%d objects: %s", len(objects), strings.Join(kinds, ", "))
}

func TestArgoRolloutsManifestWithAnotherDigestIsRefused(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	v := *versions(t)
	v.ArgoRollouts.SHA256 = strings.Repeat("ab", 32)
	_, err := ArgoRolloutsObjects(ctx, &v, &controlplane.Builder{})
	if !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("error %v, want %v", err, ErrDigestMismatch)
	}
	for _, says := range []string{"manifests/install.yaml", "v1.10.2", v.ArgoRollouts.SHA256, versions(t).ArgoRollouts.SHA256} {
		if !strings.Contains(err.Error(), says) {
			t.Errorf("error %q does not say %q", err, says)
		}
	}
	v.ArgoRollouts.SHA256 = DigestTODO
	if _, err := ArgoRolloutsObjects(ctx, &v, &controlplane.Builder{Go: "/nonexistent/go"}); !errors.Is(err, ErrDigestMissing) {
		t.Errorf("without a digest: %v, want %v before the module is looked for", err, ErrDigestMissing)
	}
}

func TestPrometheusObjects(t *testing.T) {
	t.Parallel()
	v := versions(t)
	objects, err := PrometheusObjects(v)
	if err != nil {
		t.Fatal(err)
	}
	deployment := find(objects, "Deployment", IstioNamespace, "prometheus")
	if deployment == nil {
		t.Fatal("no Deployment istio-system/prometheus")
	}
	if image := container(t, deployment, "prometheus")["image"]; image != v.Prometheus.Image {
		t.Errorf("image %v, want %s", image, v.Prometheus.Image)
	}
	// versions.yaml is the one place: the manifest's own image has neither tag nor digest.
	raw, err := embedded("prometheus.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if image := container(t, find(raw, "Deployment", IstioNamespace, "prometheus"), "prometheus")["image"].(string); strings.ContainsAny(image, ":@") {
		t.Errorf("prometheus.yaml pins the image itself (%s); the pin belongs in %s", image, VersionsFile)
	}

	service := find(objects, "Service", IstioNamespace, "prometheus")
	if service == nil {
		t.Fatal("no Service istio-system/prometheus")
	}
	ports, _, _ := unstructured.NestedSlice(service.Object, "spec", "ports")
	if len(ports) != 1 || ports[0].(map[string]any)["port"] != int64(9090) {
		t.Errorf("Service ports %v, want 9090", ports)
	}
	if got := "http://" + service.GetName() + "." + service.GetNamespace() + ":9090"; got != PrometheusAddress {
		t.Errorf("the Service answers at %s, not %s", got, PrometheusAddress)
	}
	role := find(objects, "ClusterRole", "", "canarylab-prometheus")
	if role == nil || find(objects, "ClusterRoleBinding", "", "canarylab-prometheus") == nil || find(objects, "ServiceAccount", IstioNamespace, "prometheus") == nil {
		t.Fatal("no ServiceAccount, ClusterRole and ClusterRoleBinding for service discovery")
	}
	rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
	if rule := rules[0].(map[string]any); !slices.Contains(rule["resources"].([]any), any("pods")) || !slices.Contains(rule["verbs"].([]any), any("list")) || !slices.Contains(rule["verbs"].([]any), any("watch")) {
		t.Errorf("ClusterRole rules %v do not let it list and watch pods", rules)
	}
}

// The scrape configuration is valid for Prometheus' own loader, scrapes
// Envoy's stats every 15s from pod discovery, and keeps exactly the
// targets of the proxies' stats port.
func TestPrometheusScrapesEnvoy(t *testing.T) {
	t.Parallel()
	objects, err := PrometheusObjects(versions(t))
	if err != nil {
		t.Fatal(err)
	}
	configMap := find(objects, "ConfigMap", IstioNamespace, "prometheus")
	if configMap == nil {
		t.Fatal("no ConfigMap istio-system/prometheus")
	}
	text, _, _ := unstructured.NestedString(configMap.Object, "data", "prometheus.yml")
	cfg, err := config.Load(text, nil)
	if err != nil {
		t.Fatalf("Prometheus refuses its configuration: %v", err)
	}
	if len(cfg.ScrapeConfigs) != 1 {
		t.Fatalf("%d scrape configs, want 1", len(cfg.ScrapeConfigs))
	}
	scrape := cfg.ScrapeConfigs[0]
	if scrape.MetricsPath != "/stats/prometheus" || scrape.ScrapeInterval.String() != "15s" {
		t.Errorf("scrapes %s every %s, want /stats/prometheus every 15s", scrape.MetricsPath, scrape.ScrapeInterval)
	}
	if len(scrape.ServiceDiscoveryConfigs) != 1 {
		t.Fatalf("%d service discovery configs, want 1", len(scrape.ServiceDiscoveryConfigs))
	}
	sd, ok := scrape.ServiceDiscoveryConfigs[0].(*kubernetes.SDConfig)
	if !ok || sd.Role != kubernetes.RolePod {
		t.Fatalf("service discovery %#v, want kubernetes role pod", scrape.ServiceDiscoveryConfigs[0])
	}

	target := func(port, number, phase string) labels.Labels {
		return labels.FromStrings(
			"__address__", "10.244.0.7:"+number,
			"__meta_kubernetes_namespace", "demo",
			"__meta_kubernetes_pod_name", "demo-6d4b9-x2k",
			"__meta_kubernetes_pod_phase", phase,
			"__meta_kubernetes_pod_container_name", "istio-proxy",
			"__meta_kubernetes_pod_container_port_name", port,
			"__meta_kubernetes_pod_container_port_number", number,
		)
	}
	tests := []struct {
		name   string
		target labels.Labels
		kept   bool
	}{
		{"envoy stats port", target("http-envoy-prom", "15090", "Running"), true},
		{"the app's port", target("http", "8080", "Running"), false},
		{"the agent's health port", target("", "15021", "Running"), false},
		{"a port named like Envoy's elsewhere", target("http-envoy-prom", "9901", "Running"), false},
		{"a pending pod", target("http-envoy-prom", "15090", "Pending"), false},
	}
	for _, test := range tests {
		builder := labels.NewBuilder(test.target)
		kept := relabel.ProcessBuilder(builder, scrape.RelabelConfigs...)
		result := builder.Labels()
		if kept != test.kept {
			t.Errorf("%s: kept %v, want %v", test.name, kept, test.kept)
			continue
		}
		if kept && (result.Get("namespace") != "demo" || result.Get("pod") != "demo-6d4b9-x2k" || result.Get("__address__") != "10.244.0.7:15090") {
			t.Errorf("%s: target labels %s, want namespace, pod and the stats address", test.name, result)
		}
	}
}

// Every AnalysisTemplate of the demo and conformance manifests asks
// Prometheus where the platform puts it.
func TestAnalysisTemplatesUseThePlatformsPrometheus(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../../../manifests/*/analysis-*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no AnalysisTemplates under manifests/: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		objects, err := decodeObjects(file, data)
		if err != nil {
			t.Fatal(err)
		}
		for _, obj := range objects {
			metrics, _, _ := unstructured.NestedSlice(obj.Object, "spec", "metrics")
			for _, metric := range metrics {
				address, found, _ := unstructured.NestedString(metric.(map[string]any), "provider", "prometheus", "address")
				if found && address != PrometheusAddress {
					t.Errorf("%s: %s asks Prometheus at %s, the kind platform serves it at %s", file, obj.GetName(), address, PrometheusAddress)
				}
			}
		}
	}
}

func TestGatewayObjects(t *testing.T) {
	t.Parallel()
	objects, err := GatewayObjects()
	if err != nil {
		t.Fatal(err)
	}
	gateway := find(objects, "Gateway", IstioNamespace, "canarylab-gateway")
	if gateway == nil {
		t.Fatal("no Gateway istio-system/canarylab-gateway, which the scenarios' VirtualServices name")
	}
	selector, _, _ := unstructured.NestedStringMap(gateway.Object, "spec", "selector")
	if selector["istio"] != strings.TrimPrefix(IngressGatewayRelease, "istio-") {
		t.Errorf("Gateway selects %v, but the gateway chart labels its pods istio: %s", selector, strings.TrimPrefix(IngressGatewayRelease, "istio-"))
	}
	data, err := os.ReadFile("../../../manifests/demo/services.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "- istio-system/canarylab-gateway") {
		t.Error("the demo VirtualService no longer binds to istio-system/canarylab-gateway")
	}
}

func TestStepOrder(t *testing.T) {
	t.Parallel()
	want := []string{"istio-base", "istiod", "istio-gateway", "prometheus", "argo-rollouts"}
	if got := StepNames(); !slices.Equal(got, want) {
		t.Errorf("StepNames %v, want %v", got, want)
	}
	steps := Steps(Options{})
	var names []string
	for _, step := range steps {
		names = append(names, step.Name)
	}
	if !slices.Equal(names, want) {
		t.Errorf("Steps %v, want %v", names, want)
	}
	plan := provision.Plan(provision.Options{Steps: steps})
	if !slices.Equal(plan[len(plan)-len(want):], want) {
		t.Errorf("kind plan %v does not end with the platform steps", plan)
	}
}

// With the digests of versions.yaml still to fill, the Istio steps check
// each chart against the chart repository's index, cache it and log the
// pin, before they contact the cluster; a later run needs no network. With
// no index to check against they stop before they download a chart, and
// say how to go on.
func TestIstioStepsWithoutDigests(t *testing.T) {
	t.Parallel()
	v := versions(t)
	for _, chart := range v.Istio.Charts {
		if !Unpinned(chart.SHA256) {
			t.Skipf("versions.yaml pins the %s chart's digest: this test is for the TODO state", chart.Name)
		}
	}
	archive := tinyArchive(t)
	serveArchive := archiveServer(t, archive)
	index := indexYAML(map[string]string{ChartBase: SHA256(archive), ChartIstiod: SHA256(archive), ChartGateway: SHA256(archive)})
	client, requests := countingClient(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/charts/index.yaml" {
			w.Write(index)
			return
		}
		serveArchive.ServeHTTP(w, req)
	}))
	cache := t.TempDir()
	noCluster := &provision.State{Kubeconfig: filepath.Join(t.TempDir(), "no-kubeconfig")}
	for run := range 2 {
		var log bytes.Buffer
		steps := Steps(Options{Versions: v, HTTPClient: client, CacheDir: cache, Log: slog.New(slog.NewTextHandler(&log, nil))})
		for i, step := range steps[:3] {
			err := step.Run(context.Background(), noCluster)
			if err == nil || errors.Is(err, ErrDigestMissing) || errors.Is(err, ErrDigestMismatch) || !strings.Contains(err.Error(), "no-kubeconfig") {
				t.Fatalf("run %d, step %s: %v, want the chart verified and the cluster asked for", run, step.Name, err)
			}
			if pin := PinLine(istioCharts[i], v.Istio.Version, SHA256(archive)); !strings.Contains(log.String(), pin) {
				t.Errorf("run %d, step %s: the log does not say %q:\n%s", run, step.Name, pin, log.String())
			}
		}
		t.Logf("run %d:\n%s", run, log.String())
		if *requests != 6 {
			t.Errorf("run %d: %d requests, want 6 (index.yaml and the archive for each chart, the first run only)", run, *requests)
		}
	}

	client, requests = countingClient(t, serveArchive) // index.yaml: 404
	steps := Steps(Options{Versions: v, HTTPClient: client, CacheDir: t.TempDir()})
	for _, step := range steps[:3] {
		err := step.Run(context.Background(), noCluster)
		if !errors.Is(err, ErrDigestMissing) {
			t.Fatalf("no index: step %s: %v, want %v", step.Name, err, ErrDigestMissing)
		}
		t.Logf("step %s: %v", step.Name, err)
		for _, says := range []string{"platform install " + step.Name, "Istio chart", "1.31.1", "index.yaml", "404", "canarylab platform digests --write", VersionsFile} {
			if !strings.Contains(err.Error(), says) {
				t.Errorf("step %s: error %q does not say %q", step.Name, err, says)
			}
		}
	}
	if *requests != 3 {
		t.Errorf("no index: %d requests, want the 3 index.yaml ones: no chart downloaded without a digest to check it against", *requests)
	}
}

func TestSortForInstall(t *testing.T) {
	t.Parallel()
	object := func(apiVersion, kind string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": map[string]any{"name": strings.ToLower(kind)}}}
	}
	objects := []*unstructured.Unstructured{
		object("networking.istio.io/v1", "Gateway"), object("apps/v1", "Deployment"), object("v1", "Service"),
		object("rbac.authorization.k8s.io/v1", "ClusterRole"), object("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
		object("v1", "ConfigMap"), object("v1", "ServiceAccount"), object("v1", "Namespace"),
		object("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"),
	}
	sortForInstall(objects)
	var kinds []string
	for _, obj := range objects {
		kinds = append(kinds, obj.GetKind())
	}
	want := []string{"Namespace", "ServiceAccount", "ConfigMap", "CustomResourceDefinition", "ClusterRole", "Service", "Deployment", "ValidatingWebhookConfiguration", "Gateway"}
	if !slices.Equal(kinds, want) {
		t.Errorf("install order %v, want %v", kinds, want)
	}
}

func TestReadiness(t *testing.T) {
	t.Parallel()
	parse := func(text string) *unstructured.Unstructured {
		if strings.Contains(text, "metadata: {") {
			text = strings.Replace(text, "metadata: {", "metadata: {name: test, ", 1)
		} else {
			text = "metadata: {name: test}\n" + text
		}
		objects, err := decodeObjects("test", []byte("apiVersion: v1\nkind: Test\n"+text))
		if err != nil {
			t.Fatal(err)
		}
		return objects[0]
	}
	deployments := []struct {
		name   string
		yaml   string
		ready  bool
		reason string
	}{
		{"available", "metadata: {generation: 2}\nspec: {replicas: 2}\nstatus: {observedGeneration: 2, availableReplicas: 2}", true, ""},
		{"an old status", "metadata: {generation: 3}\nspec: {replicas: 1}\nstatus: {observedGeneration: 2, availableReplicas: 1}", false, "has not seen generation 3"},
		{"one of two", "metadata: {generation: 1}\nspec: {replicas: 2}\nstatus: {observedGeneration: 1, availableReplicas: 1, conditions: [{type: Available, status: 'False', message: Deployment does not have minimum availability.}]}", false, "1 of 2 replicas available (Available=False: Deployment does not have minimum availability.)"},
		{"no status yet", "metadata: {generation: 1}\nspec: {replicas: 1}", false, "has not seen generation 1"},
		{"replicas defaulted", "metadata: {generation: 1}\nspec: {}\nstatus: {observedGeneration: 1}", false, "0 of 1 replicas available"},
		{"scaled to zero", "metadata: {generation: 1}\nspec: {replicas: 0}\nstatus: {observedGeneration: 1}", true, ""},
	}
	for _, test := range deployments {
		ready, reason := deploymentAvailable(parse(test.yaml))
		if ready != test.ready || !strings.Contains(reason, test.reason) {
			t.Errorf("Deployment %s: ready %v (%q), want %v (%q)", test.name, ready, reason, test.ready, test.reason)
		}
	}
	crds := []struct {
		name   string
		yaml   string
		ready  bool
		reason string
	}{
		{"established", "status: {conditions: [{type: NamesAccepted, status: 'True'}, {type: Established, status: 'True'}]}", true, ""},
		{"names not accepted", "status: {conditions: [{type: Established, status: 'False', message: not all names are accepted}]}", false, "Established is False: not all names are accepted"},
		{"new", "metadata: {generation: 1}", false, "no Established condition yet"},
	}
	for _, test := range crds {
		ready, reason := crdEstablished(parse(test.yaml))
		if ready != test.ready || !strings.Contains(reason, test.reason) {
			t.Errorf("CRD %s: ready %v (%q), want %v (%q)", test.name, ready, reason, test.ready, test.reason)
		}
	}
}
