// Package metric names what isobench measures: every value carries its unit
// (stored in base units) and the direction in which it improves.
package metric

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
