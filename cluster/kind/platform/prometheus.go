package platform

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// PrometheusAddress is where the scenarios' AnalysisTemplates reach
// Prometheus on the kind backend (provider.prometheus.address).
const PrometheusAddress = "http://prometheus.istio-system:9090"

// PrometheusObjects are manifests/platform/prometheus.yaml with the image
// pinned in versions.yaml.
func PrometheusObjects(v *Versions) ([]*unstructured.Unstructured, error) {
	objects, err := embedded("prometheus.yaml")
	if err != nil {
		return nil, err
	}
	if err := pinImage(objects, "Deployment", "prometheus", "prometheus", v.Prometheus.Image); err != nil {
		return nil, err
	}
	return objects, nil
}

// GatewayObjects are manifests/platform/ingress-gateway.yaml: the Istio
// Gateway the scenarios' VirtualServices bind to.
func GatewayObjects() ([]*unstructured.Unstructured, error) {
	return embedded("ingress-gateway.yaml")
}
