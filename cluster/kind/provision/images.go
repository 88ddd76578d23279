package provision

import (
	"context"
	"errors"
	"fmt"
	"os"

	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
)

// LoadImageArchive loads an image archive (the `docker save` format that
// fixtures/image.WriteTarball writes) into the containerd of every node of
// the named cluster that runs pods, as `kind load image-archive` does (kind
// pkg/cmd/kind/load/image-archive: ListInternalNodes, then
// nodeutils.LoadImageArchive per node, which runs `ctr images import` in
// the node). Pods whose imagePullPolicy is IfNotPresent (the default for a
// tag other than latest) then start from these images without a registry.
func LoadImageArchive(ctx context.Context, opts Options, archive string) error {
	opts = opts.withDefaults()
	provider, err := connect(opts)
	if err != nil {
		return err
	}
	nodes, err := provider.ListInternalNodes(opts.Name)
	if err != nil {
		return fmt.Errorf("kind cluster %s: listing its nodes: %w", opts.Name, withOutput(err))
	}
	if len(nodes) == 0 {
		return fmt.Errorf("kind cluster %s has no nodes to load %s into", opts.Name, archive)
	}
	var errs []error
	for _, node := range nodes {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := loadInto(node.String(), archive, func(f *os.File) error { return nodeutils.LoadImageArchive(node, f) }); err != nil {
			errs = append(errs, err)
			continue
		}
		opts.Log.Info("loaded images", "archive", archive, "node", node.String())
	}
	return errors.Join(errs...)
}

func loadInto(node, archive string, load func(*os.File) error) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := load(f); err != nil {
		return fmt.Errorf("loading %s into node %s: %w", archive, node, withOutput(err))
	}
	return nil
}
