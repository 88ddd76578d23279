package scenarios_test

import (
	"context"
	"path/filepath"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/canarylab/canarylab"
	"github.com/canarylab/canarylab/matchers"
)

func TestCatalog(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Scenario catalog")
}

// Every file of the catalog is a spec: it must load and its expectations
// must hold on the sim, for the default seed and for others.
var _ = Describe("the scenario catalog", func() {
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		panic(err)
	}
	It("holds at least 10 scenarios", func() {
		Expect(len(files)).To(BeNumerically(">=", 10))
	})
	for _, file := range files {
		file := file
		Describe(file, func() {
			for _, seed := range []int64{1, 2, 3} {
				seed := seed
				It("passes on the sim with seed "+itoa(seed), func(ctx context.Context) {
					sc, err := canarylab.Load(file)
					Expect(err).NotTo(HaveOccurred())
					res, err := canarylab.Run(ctx, sc, canarylab.Options{Seed: seed})
					Expect(err).NotTo(HaveOccurred())
					Expect(res).To(matchers.Pass())
				})
			}
		})
	}
})
