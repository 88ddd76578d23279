package platform

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Release is what a chart is rendered as: `helm template NAME CHART
// --namespace NAMESPACE --values VALUES`.
type Release struct {
	Name      string
	Namespace string
	Values    map[string]any
}

// RenderChartArchive renders a chart archive (.tgz) with Helm's engine.
func RenderChartArchive(archive []byte, release Release, caps *chartutil.Capabilities) ([]*unstructured.Unstructured, error) {
	loaded, err := loader.LoadArchive(bytes.NewReader(archive))
	if err != nil {
		return nil, fmt.Errorf("loading the chart archive: %w", err)
	}
	return RenderChart(loaded, release, caps)
}

// RenderChart renders a chart as `helm template` does, with Helm's own
// engine and value handling (defaults, the values schema, subcharts): the
// CRDs of its crds/ directory first, then its templates in the order Helm
// installs them, each namespaced object without a namespace put in the
// release's. NOTES.txt is dropped; a chart with hooks is refused, as
// canarylab applies objects and does not run Helm's hook life cycle.
// caps says which cluster the chart is rendered for (its Kubernetes version
// and APIs); nil is Helm's default.
func RenderChart(loaded *chart.Chart, release Release, caps *chartutil.Capabilities) ([]*unstructured.Unstructured, error) {
	name := loaded.Name() + " " + loaded.Metadata.Version
	if caps == nil {
		caps = chartutil.DefaultCapabilities
	}
	values := release.Values
	if values == nil {
		values = map[string]any{}
	}
	if err := chartutil.ProcessDependenciesWithMerge(loaded, values); err != nil {
		return nil, fmt.Errorf("chart %s: %w", name, err)
	}
	options := chartutil.ReleaseOptions{Name: release.Name, Namespace: release.Namespace, Revision: 1, IsInstall: true}
	renderValues, err := chartutil.ToRenderValues(loaded, values, options, caps)
	if err != nil {
		return nil, fmt.Errorf("chart %s: values: %w", name, err)
	}
	files, err := engine.Render(loaded, renderValues)
	if err != nil {
		return nil, fmt.Errorf("chart %s: %w", name, err)
	}

	var objects []*unstructured.Unstructured
	for _, crd := range loaded.CRDObjects() {
		decoded, err := decodeObjects("chart "+name+" "+crd.Filename, crd.File.Data)
		if err != nil {
			return nil, err
		}
		objects = append(objects, decoded...)
	}
	for file := range files {
		if strings.HasSuffix(file, "NOTES.txt") {
			delete(files, file)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, caps.APIVersions, releaseutil.InstallOrder)
	if err != nil {
		return nil, fmt.Errorf("chart %s: %w", name, err)
	}
	if len(hooks) > 0 {
		var names []string
		for _, hook := range hooks {
			names = append(names, hook.Path+" ("+hook.Kind+" "+hook.Name+")")
		}
		sort.Strings(names)
		return nil, fmt.Errorf("chart %s has Helm hooks, which canarylab does not run: %s", name, strings.Join(names, ", "))
	}
	for _, manifest := range manifests {
		decoded, err := decodeObjects("chart "+name+" "+manifest.Name, []byte(manifest.Content))
		if err != nil {
			return nil, err
		}
		objects = append(objects, decoded...)
	}
	inNamespace(objects, release.Namespace)
	return objects, nil
}
