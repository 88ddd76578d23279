package flagger

import (
	"strings"
	"testing"
)

func TestIsLoadtesterURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url  string
		want bool
	}{
		{"http://flagger-loadtester.test/", true},
		{"http://flagger-loadtester.test/gate/check", true},
		{"http://flagger-loadtester.test.svc.cluster.local:80/rollback/check", true},
		{"http://loadtester:8080/", true},
		{"https://My-LoadTester.prod/", true},
		{"http://podinfo.loadtester/", false}, // the namespace, not the Service
		{"http://flagger.test/loadtester", false},
		{"http://10.0.0.1/loadtester", false},
		{"flagger-loadtester.test/gate/check", false}, // no scheme: no host
		{"://flagger-loadtester", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			if got := IsLoadtesterURL(tt.url); got != tt.want {
				t.Errorf("IsLoadtesterURL(%q) = %v, want %v", tt.url, got, tt.want)
			}
		})
	}
}

// A Canary whose webhooks ask the loadtester for a bash, helm or kubectl
// task (an acceptance test) is refused, naming the hook: canarylab cannot
// run it and does not guess its answer.
func TestUnrunnableTasksAreRefused(t *testing.T) {
	t.Parallel()
	hooks := []Webhook{
		{Name: "acceptance-test", URL: "http://flagger-loadtester.test/", Metadata: map[string]string{"type": "bash", "cmd": "curl -s http://podinfo-canary.test:9898/token | grep token"}},
		{Name: "load-test", URL: "http://flagger-loadtester.test/", Metadata: map[string]string{"type": "cmd", "cmd": "hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/"}},
		{Name: "helm-test", URL: "http://flagger-helmtester.kube-system/", Metadata: map[string]string{"type": "helmv3", "cmd": "test podinfo"}},
	}
	reasons := (&Manifests{}).unrunnableHooks(hooks)
	if len(reasons) != 1 || !strings.Contains(reasons[0], "webhook acceptance-test runs a bash task") {
		t.Errorf("reasons %q, want the bash acceptance test only (the helm tester is not a loadtester URL by its host)", reasons)
	}
	declared := &Manifests{Declared: map[string]bool{"acceptance-test": true}}
	if reasons := declared.unrunnableHooks(hooks); len(reasons) != 0 {
		t.Errorf("a declared answer is still refused: %q", reasons)
	}
}
