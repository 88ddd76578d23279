// Package docs holds canarylab's own design notes: architecture.md (the
// layout, the data flow of a run, the Backend interface and the contracts)
// and measurements.md (measured facts and upstream rules the code cites as
// docs/measurements.md#<heading>). It has no code; its test checks that
// every Markdown file or heading the repository refers to exists in it.
package docs
