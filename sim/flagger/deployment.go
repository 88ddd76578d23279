package flagger

import (
	"fmt"
	api "github.com/canarylab/canarylab/controller/flagger"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/canarylab/canarylab/sim/dataplane"
	"github.com/canarylab/canarylab/sim/vclock"
)

// deployment models an apps/v1 Deployment and the kube Deployment
// controller's rolling update (k8s pkg/controller/deployment/rolling.go:
// reconcileNewReplicaSet and reconcileOldReplicaSets) over the sim's
// ReplicaSets. Flagger reads it only at its ticks, so the controller reacts
// to pod changes at once.
type deployment struct {
	name  string
	world *dataplane.World
	loop  *vclock.Loop

	replicas        int
	image           string
	maxSurge        string // intstr: "25%" or "2"
	maxUnavailable  string
	minReadySeconds time.Duration
	// progressDeadline is the Deployment's own progressDeadlineSeconds.
	progressDeadline time.Duration

	rss []*dataplane.ReplicaSet // oldest first

	// unavailableSince is the lastUpdateTime (whole seconds, metav1.Time)
	// of the Available=False/MinimumReplicasUnavailable condition; nil
	// while Available is True.
	unavailableSince *time.Duration
	// lastProgress is when the rollout last made progress (the
	// Progressing condition's lastUpdateTime).
	lastProgress time.Duration
	progressKey  [3]int
}

func newDeployment(name string, spec *api.Deployment, loop *vclock.Loop, world *dataplane.World, image string, replicas int) *deployment {
	d := &deployment{name: name, world: world, loop: loop, image: image, replicas: replicas,
		maxSurge: "25%", maxUnavailable: "25%", progressDeadline: 600 * time.Second}
	if spec != nil {
		if ru := spec.Spec.Strategy.RollingUpdate; ru != nil {
			if ru.MaxSurge != nil {
				d.maxSurge = fmt.Sprint(ru.MaxSurge)
			}
			if ru.MaxUnavailable != nil {
				d.maxUnavailable = fmt.Sprint(ru.MaxUnavailable)
			}
		}
		if spec.Spec.Strategy.Type == "Recreate" {
			d.maxSurge, d.maxUnavailable = "0", "100%"
		}
		d.minReadySeconds = time.Duration(spec.Spec.MinReadySeconds) * time.Second
		if spec.Spec.ProgressDeadlineSeconds != nil {
			d.progressDeadline = time.Duration(*spec.Spec.ProgressDeadlineSeconds) * time.Second
		}
	}
	d.lastProgress = loop.Now()
	d.reconcile()
	return d
}

// intstrValue parses a maxSurge/maxUnavailable as the Deployment controller
// does (surge rounds up, unavailable down; k8s deploymentutil.ResolveFenceposts).
func intstrValue(text string, total int, roundUp bool) int {
	text = strings.TrimSpace(text)
	if percent, ok := strings.CutSuffix(text, "%"); ok {
		p, err := strconv.Atoi(percent)
		if err != nil {
			return 0
		}
		value := float64(p) * float64(total) / 100
		if roundUp {
			return int(math.Ceil(value))
		}
		return int(math.Floor(value))
	}
	n, _ := strconv.Atoi(text)
	return n
}

// fenceposts are maxSurge and maxUnavailable, never both 0.
func (d *deployment) fenceposts() (int, int) {
	surge := intstrValue(d.maxSurge, d.replicas, true)
	unavailable := intstrValue(d.maxUnavailable, d.replicas, false)
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return surge, unavailable
}

func templateHash(workload, image string) string {
	h := fnv.New32a()
	h.Write([]byte(workload + "\x00" + image))
	return fmt.Sprintf("%08x", h.Sum32())
}

// newRS is the ReplicaSet of the current template, created at 0 if needed.
func (d *deployment) newRS() *dataplane.ReplicaSet {
	hash := templateHash(d.name, d.image)
	for _, rs := range d.rss {
		if rs.Hash == hash {
			return rs
		}
	}
	rs := d.world.CreateWorkloadReplicaSet(d.name, hash, d.image)
	rs.MinReadySeconds = d.minReadySeconds
	d.rss = append(d.rss, rs)
	return rs
}

func (d *deployment) oldRSs() []*dataplane.ReplicaSet {
	current := d.newRS()
	var old []*dataplane.ReplicaSet
	for _, rs := range d.rss {
		if rs != current {
			old = append(old, rs)
		}
	}
	return old
}

// reconcile is one sync of the Deployment controller: scale the new
// ReplicaSet up within maxSurge, the old ones down within maxUnavailable.
func (d *deployment) reconcile() {
	now := d.loop.Now()
	current := d.newRS()
	old := d.oldRSs()
	surge, unavailable := d.fenceposts()
	// reconcileNewReplicaSet.
	if current.Desired > d.replicas {
		d.world.Scale(current, d.replicas)
	} else {
		total := current.Desired
		for _, rs := range old {
			total += rs.Desired
		}
		scaleUp := d.replicas + surge - total
		if scaleUp > 0 {
			d.world.Scale(current, current.Desired+min(scaleUp, d.replicas-current.Desired))
		}
	}
	// reconcileOldReplicaSets: first drop old pods that are not available,
	// then scale down as far as minAvailable allows.
	minAvailable := d.replicas - unavailable
	all := current.Desired
	for _, rs := range old {
		all += rs.Desired
	}
	newUnavailable := current.Desired - current.AvailableReplicas(now)
	maxScaledDown := all - minAvailable - newUnavailable
	for _, rs := range old {
		if maxScaledDown <= 0 {
			break
		}
		unhealthy := rs.Desired - rs.AvailableReplicas(now)
		if unhealthy <= 0 {
			continue
		}
		cut := min(unhealthy, maxScaledDown)
		d.world.Scale(rs, rs.Desired-cut)
		maxScaledDown -= cut
	}
	available := 0
	for _, rs := range d.rss {
		available += rs.AvailableReplicas(now)
	}
	scaleDown := available - minAvailable
	for _, rs := range old {
		if scaleDown <= 0 {
			break
		}
		cut := min(rs.Desired, scaleDown)
		if cut > 0 {
			d.world.Scale(rs, rs.Desired-cut)
			scaleDown -= cut
		}
	}
	d.updateConditions(now)
}

// updateConditions keeps the Available condition's lastUpdateTime and the
// rollout's last progress (k8s deploymentutil.SetDeploymentCondition keeps
// the time while the status and reason stay the same).
func (d *deployment) updateConditions(now time.Duration) {
	replicas, updated, available := d.counts(now)
	_, unavailable := d.fenceposts()
	if available >= d.replicas-unavailable {
		d.unavailableSince = nil
	} else if d.unavailableSince == nil {
		since := now.Truncate(time.Second)
		d.unavailableSince = &since
	}
	key := [3]int{replicas, updated, available}
	if key != d.progressKey {
		d.progressKey = key
		d.lastProgress = now
	}
}

// counts are status.replicas, updatedReplicas and availableReplicas.
func (d *deployment) counts(now time.Duration) (replicas, updated, available int) {
	current := d.newRS()
	for _, rs := range d.rss {
		replicas += rs.Replicas()
		available += rs.AvailableReplicas(now)
	}
	return replicas, current.Replicas(), available
}

// complete: every pod is of the current template and available.
func (d *deployment) complete(now time.Duration) bool {
	replicas, updated, available := d.counts(now)
	return updated == d.replicas && replicas == updated && available >= d.replicas
}

// ready is Flagger's isDeploymentReady (FL pkg/canary/deployment_ready.go:74-117):
// an error while the rollout is unfinished, not retriable once the
// Deployment exceeded its progress deadline or Available has been False
// for longer than the Canary's deadline.
func (d *deployment) ready(deadline time.Duration, thresholdPercent int) (bool, error) {
	now := d.loop.Now()
	retriable := true
	if d.unavailableSince != nil && *d.unavailableSince+deadline < now {
		retriable = false
	}
	replicas, updated, available := d.counts(now)
	readyUpdated := int(float32(updated) * float32(thresholdPercent) / 100)
	switch {
	case !d.complete(now) && now-d.lastProgress > d.progressDeadline:
		return false, fmt.Errorf("deployment %q exceeded its progress deadline", d.name)
	case updated < d.replicas:
		return retriable, fmt.Errorf("waiting for rollout to finish: %d out of %d new replicas have been updated", updated, d.replicas)
	case replicas > updated:
		return retriable, fmt.Errorf("waiting for rollout to finish: %d old replicas are pending termination", replicas-updated)
	case available < readyUpdated:
		return retriable, fmt.Errorf("waiting for rollout to finish: %d of %d (readyThreshold %d%%) updated replicas are available", available, readyUpdated, thresholdPercent)
	}
	return true, nil
}

func (d *deployment) setImage(image string) {
	if d.image == image {
		return
	}
	d.image = image
	d.lastProgress = d.loop.Now()
	d.reconcile()
}

func (d *deployment) scale(replicas int) {
	if d.replicas == replicas {
		return
	}
	d.replicas = replicas
	d.lastProgress = d.loop.Now()
	d.reconcile()
}

// pods counts every pod of the Deployment.
func (d *deployment) pods() int {
	n := 0
	for _, rs := range d.rss {
		n += rs.Replicas()
	}
	return n
}
