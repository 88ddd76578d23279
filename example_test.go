package canarylab_test

import (
	"context"
	"fmt"
	"time"

	"github.com/onsi/gomega"

	"github.com/canarylab/canarylab"
	"github.com/canarylab/canarylab/matchers"
)

// A scenario from go test, as the README shows it: load it, run it on the
// sim, and assert with the matchers (in a test, gomega.NewWithT(t)).
func Example() {
	g := gomega.NewGomega(func(message string, _ ...int) { fmt.Println("FAIL:", message) })
	ctx := context.Background()

	sc, err := canarylab.Load("scenarios/bad-release-rolls-back.yaml")
	g.Expect(err).NotTo(gomega.HaveOccurred())
	res, err := canarylab.Run(ctx, sc, canarylab.Options{Seed: 1})
	g.Expect(err).NotTo(gomega.HaveOccurred())
	g.Expect(res).To(matchers.RollBackWithin(90 * time.Second))
	g.Expect(res).To(matchers.HaveFailedRequestsBelow(250))
	g.Expect(res).To(matchers.Pass()) // every expectation of the file

	fmt.Println(res.Outcome.Result, res.Passed)
	// Output: rolled-back true
}
