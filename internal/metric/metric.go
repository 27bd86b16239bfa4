// Package metric names what isobench measures: every value carries its unit
// (stored in base units) and the direction in which it improves.
package metric

import "fmt"

// Name identifies a metric, e.g. "coldstart" or "phase.create".
type Name string

// Unit is a base unit. Values are stored unscaled; reports pick a prefix.
type Unit string

const (
	Seconds       Unit = "sec"
	Bytes         Unit = "B"
	BytesPerSec   Unit = "B/s"
	OpsPerSec     Unit = "ops/s"
	Count         Unit = "count"
	Dimensionless Unit = "x"
)

// Direction says whether a smaller or a larger value is better.
type Direction string

const (
	LowerIsBetter  Direction = "lower"
	HigherIsBetter Direction = "higher"
)

// Value is one measured figure.
type Value struct {
	Name  Name    `json:"name"`
	Unit  Unit    `json:"unit"`
	Value float64 `json:"value"`
}

// Info describes a metric for reports.
type Info struct {
	Name        Name      `json:"name"`
	Unit        Unit      `json:"unit"`
	Direction   Direction `json:"direction"`
	Description string    `json:"description"`
}

// Cold-start metrics. A phase metric is the time from the previous mark on
// the sandbox's timeline to this one; see docs/results.md for definitions.
const (
	ColdStart         Name = "coldstart"          // launch call → agent's ready frame received by the host
	LaunchToTeardown  Name = "launch_to_teardown" // launch call → sandbox fully removed
	AgentStartToReady Name = "agent.start_to_ready"
	LaunchToAgentMain Name = "launch_to_agent_main" // host clock → agent clock; only where both share a clock
)

// PhasePrefix starts the name of every cold-start phase metric.
const PhasePrefix = "phase."

// Phase returns the metric name of a timeline phase.
func Phase(phase string) Name { return Name(PhasePrefix + phase) }

var known = map[Name]Info{
	ColdStart:         {ColdStart, Seconds, LowerIsBetter, "launch call until the agent's ready frame reaches the host"},
	LaunchToTeardown:  {LaunchToTeardown, Seconds, LowerIsBetter, "launch call until the sandbox is fully removed"},
	AgentStartToReady: {AgentStartToReady, Seconds, LowerIsBetter, "agent's own clock: first Go code until ready frame written"},
	LaunchToAgentMain: {LaunchToAgentMain, Seconds, LowerIsBetter, "host launch call until the agent's first Go code (host and sandbox share a clock)"},
}

// Describe returns what is known about a metric. Phase metrics are seconds,
// lower is better.
func Describe(n Name) (Info, error) {
	if i, ok := known[n]; ok {
		return i, nil
	}
	if len(n) > len(PhasePrefix) && string(n[:len(PhasePrefix)]) == PhasePrefix {
		return Info{n, Seconds, LowerIsBetter, "cold-start phase " + string(n[len(PhasePrefix):])}, nil
	}
	return Info{}, fmt.Errorf("unknown metric %q", n)
}
