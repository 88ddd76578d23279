// Command canarylab replays progressive-delivery scenarios and checks their
// promotion or rollback timing and blast radius.
package main

import "github.com/canarylab/canarylab/internal/cli"

func main() {
	cli.Main()
}
