// Package metric names what isobench measures: every value carries its unit
// (stored in base units) and the direction in which it improves.
package metric

import (
	"fmt"
	"math"
)

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

// Format renders v in its unit with a prefix chosen for v alone
// ("95.3 ms", "1.2 GiB/s"), for places where values are not lined up in a
// column.
func Format(v float64, u Unit) string {
	a := math.Abs(v)
	switch u {
	case Seconds:
		switch {
		case a >= 1 || a == 0:
			return fmt.Sprintf("%.3g s", v)
		case a >= 1e-3:
			return fmt.Sprintf("%.3g ms", v*1e3)
		case a >= 1e-6:
			return fmt.Sprintf("%.3g µs", v*1e6)
		default:
			return fmt.Sprintf("%.3g ns", v*1e9)
		}
	case Bytes, BytesPerSec:
		suffix := ""
		if u == BytesPerSec {
			suffix = "/s"
		}
		switch {
		case a >= 1<<30:
			return fmt.Sprintf("%.3g GiB%s", v/(1<<30), suffix)
		case a >= 1<<20:
			return fmt.Sprintf("%.3g MiB%s", v/(1<<20), suffix)
		default:
			return fmt.Sprintf("%.3g KiB%s", v/(1<<10), suffix)
		}
	case OpsPerSec:
		return fmt.Sprintf("%.4g /s", v)
	}
	return fmt.Sprintf("%.4g", v)
}

// NoisyBaseline reports metrics whose native baseline is noise around zero
// (a process's MemAvailable drop): a ratio to it means nothing.
func NoisyBaseline(n Name) bool {
	return n == ScaleMemAvailPerInst || n == DensityMemPerInstance
}
