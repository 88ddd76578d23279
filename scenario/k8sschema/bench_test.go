package k8sschema

import (
	"testing"

	"github.com/canarylab/canarylab/scenario"
)

// BenchmarkCheck judges the manifests of typical scenarios: an Argo Rollouts
// canary with step analysis (Rollout, AnalysisTemplate, two Services, an
// Istio VirtualService) and a Flagger canary (Deployment, Canary). "judge"
// judges every document afresh each time (what a new scenario costs once
// the CRDs are loaded); "again" is Check on documents judged before, as
// the sim's repeated runs of one scenario meet them.
func BenchmarkCheck(b *testing.B) {
	for _, bench := range []struct{ name, path string }{
		{"argo-rollouts", "../../scenarios/step-analysis-blocks-bad-release.yaml"},
		{"flagger", "../../scenarios/flagger-promotion-gate-opened.yaml"},
	} {
		sc, err := scenario.Load(bench.path)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bench.name+"/judge", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, document := range sc.Documents {
					if problems := checkDocument(document); len(problems) > 0 {
						b.Fatal(problems)
					}
				}
			}
			b.ReportMetric(float64(len(sc.Documents)), "documents")
		})
		b.Run(bench.name+"/again", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := Check(sc.Documents); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
