// Package controller holds what the controller packages (argorollouts,
// flagger) share of the Kubernetes objects they read.
package controller

// ObjectMeta is the part of metadata the controllers' rules read.
type ObjectMeta struct {
	Name        string            `yaml:"name"`
	Namespace   string            `yaml:"namespace"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// PodTemplate is a workload's pod template: its labels and containers.
type PodTemplate struct {
	Metadata ObjectMeta `yaml:"metadata"`
	Spec     struct {
		Containers []Container `yaml:"containers"`
	} `yaml:"spec"`
}

// Container is a pod template's container: its name and image.
type Container struct {
	Name  string `yaml:"name"`
	Image string `yaml:"image"`
}
