//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/e2e-framework/klient/k8s/resources"
	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"

	"github.com/canarylab/canarylab"
	"github.com/canarylab/canarylab/cluster"
	"github.com/canarylab/canarylab/cluster/kind"
	"github.com/canarylab/canarylab/cluster/kind/provision"
	"github.com/canarylab/canarylab/matchers"
	"github.com/canarylab/canarylab/reports"
	"github.com/canarylab/canarylab/result"
)

// catalog is the scenario catalog the suite runs.
const catalog = "../../scenarios"

var (
	testenv env.Environment
	// kindCluster is the kind cluster the suite brings up and down: the
	// backend's own, which every run then reuses.
	kindCluster provision.Options
	// up is set once the cluster is up; a failed Up deletes what it made.
	up   bool
	keep = os.Getenv("CANARYLAB_KEEP") != ""
	// backend runs every spec on that cluster; Finish closes it.
	backend = kind.New(backendConfig())

	resultsMu sync.Mutex
	results   []*result.Result
)

// TestMain is e2e-framework's environment: Setup brings canarylab's kind
// cluster up with the platform and the fixture images of the whole
// catalog, Finish deletes it (unless CANARYLAB_KEEP is set); the specs run
// in between.
func TestMain(m *testing.M) {
	testenv = env.New()
	testenv.Setup(clusterUp)
	testenv.Finish(clusterDown)
	os.Exit(testenv.Run(m))
}

func TestKindCatalog(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Scenario catalog on the kind backend")
}

// catalogImages are the images of every scenario the kind backend runs.
func catalogImages() ([]string, error) {
	files, err := filepath.Glob(filepath.Join(catalog, "*.yaml"))
	if err != nil {
		return nil, err
	}
	var images []string
	for _, file := range files {
		sc, err := canarylab.Load(file)
		if err != nil {
			return nil, err
		}
		if kind.Check(sc) != nil {
			continue
		}
		for _, image := range kind.Images(sc) {
			if !slices.Contains(images, image) {
				images = append(images, image)
			}
		}
	}
	slices.Sort(images)
	return images, nil
}

// backendConfig is the kind backend's configuration from the environment,
// as the CLI reads it.
func backendConfig() kind.Config {
	return kind.Config{Dir: os.Getenv("CANARYLAB_KIND_DIR"), CacheDir: os.Getenv("CANARYLAB_CACHE_DIR"), Keep: keep}
}

func clusterUp(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
	images, err := catalogImages()
	if err != nil {
		return ctx, err
	}
	kindCluster, err = backendConfig().ClusterOptions(images)
	if err != nil {
		return ctx, err
	}
	started := time.Now()
	state, err := provision.Up(ctx, kindCluster)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bringing the kind cluster up: %v\n", err)
		return ctx, err
	}
	fmt.Fprintf(os.Stderr, "kind cluster %s up in %s, kubeconfig %s, ingress http://127.0.0.1:%d/\n",
		state.Name, time.Since(started).Round(time.Second), state.Kubeconfig, state.HTTPHostPort)
	cfg.WithKubeconfigFile(state.Kubeconfig)
	up = true
	return ctx, nil
}

func clusterDown(ctx context.Context, _ *envconf.Config) (context.Context, error) {
	// e2e-framework logs a failing finish step only at a high verbosity:
	// say it here.
	err := backend.Close()
	if keep {
		fmt.Fprintf(os.Stderr, "keeping the kind cluster %s (CANARYLAB_KEEP); `canarylab cluster down --provider kind` deletes it\n", kindCluster.Name)
	} else if up {
		_, downErr := provision.Down(kindCluster)
		err = errors.Join(err, downErr)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "tearing down: %v\n", err)
	}
	return ctx, err
}

// reportDir is where the reports of the runs go, rewritten after each.
func reportDir() string {
	if dir := os.Getenv("CANARYLAB_REPORT_DIR"); dir != "" {
		return dir
	}
	return filepath.Join("..", "..", "report", "kind")
}

var _ = Describe("the scenario catalog on kind", func() {
	files, err := filepath.Glob(filepath.Join(catalog, "*.yaml"))
	if err != nil {
		panic(err)
	}
	It("holds scenarios", func() {
		Expect(files).NotTo(BeEmpty())
	})
	for _, file := range files {
		It("passes "+filepath.Base(file), func(ctx SpecContext) {
			sc, err := canarylab.Load(file)
			Expect(err).NotTo(HaveOccurred())
			if refused := kind.Check(sc); refused != nil {
				Skip(refused.Error())
			}
			res, err := canarylab.Run(ctx, sc, canarylab.Options{Backend: backend, Seed: 1, Keep: keep, Progress: func(name string, e result.Event) {
				fmt.Fprintf(GinkgoWriter, "%s %8.2fs %s\n", name, e.AtSeconds, e.Describe())
			}})
			if res != nil {
				resultsMu.Lock()
				results = append(results, res)
				written := slices.Clone(results)
				resultsMu.Unlock()
				_, reportErr := reports.WriteDir(reportDir(), written)
				Expect(reportErr).NotTo(HaveOccurred())
			}
			Expect(err).NotTo(HaveOccurred())
			Expect(res).To(matchers.Pass())

			// Nothing of the run is left in the cluster for the next one.
			var rollouts unstructured.UnstructuredList
			rollouts.SetAPIVersion(cluster.Rollouts.GroupVersion().String())
			rollouts.SetKind("RolloutList")
			err = envConfig().Client().Resources().List(ctx, &rollouts,
				resources.WithLabelSelector(cluster.ManagedByLabel+"="+cluster.ManagedBy))
			Expect(err).NotTo(HaveOccurred())
			Expect(rollouts.Items).To(BeEmpty(), "Rollouts of canarylab's left after the run")
		}, SpecTimeout(20*time.Minute))
	}
})

func envConfig() *envconf.Config { return testenv.EnvConf() }
