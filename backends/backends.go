// Package backends registers every backend with the runner. Import it for
// its side effect; it is the one place that knows them all.
package backends

import (
	"github.com/canarylab/canarylab/kindbackend"
	"github.com/canarylab/canarylab/localbackend"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/sim"
)

func init() {
	runner.Register(sim.Name, sim.New)
	runner.Register(localbackend.Name, localbackend.New)
	runner.RegisterShutdown(localbackend.Shutdown)
	runner.Register(kindbackend.Name, kindbackend.New)
	runner.RegisterShutdown(kindbackend.Shutdown)
}
