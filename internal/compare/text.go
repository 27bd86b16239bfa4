package compare

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/metric"
)

// WriteText prints the comparison: per workload, backend and metric the
// old and new medians, the change, the p-value and the verdict, then the
// host differences and a one-line summary.
func WriteText(w io.Writer, cs []Change, hostDiffs []string, o Options) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "medians, Mann–Whitney U test (alpha %.2g), changes under %.3g%% count as none\n", o.Alpha, 100*o.Threshold)
	fmt.Fprintln(tw, "WORKLOAD\tBACKEND\tMETRIC\tOLD\tNEW\tCHANGE\tP\tN\tVERDICT")
	var better, worse, same int
	for _, c := range cs {
		name := string(c.Backend)
		if c.Accel == backend.AccelTCG {
			name += " (EMULATED)"
		}
		change, p := "", ""
		if !math.IsNaN(c.P) {
			change, p = fmt.Sprintf("%+.1f%%", 100*c.Delta), fmt.Sprintf("%.3f", c.P)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d+%d\t%s\n", c.Workload, name, c.Metric,
			format(c.OldMedian, c.Unit, len(c.Old)), format(c.NewMedian, c.Unit, len(c.New)), change, p, len(c.Old), len(c.New), c.Verdict)
		switch c.Verdict {
		case Better:
			better++
		case Worse:
			worse++
		default:
			same++
		}
	}
	fmt.Fprintln(tw)
	for _, d := range hostDiffs {
		fmt.Fprintf(tw, "note: the hosts differ: %s\n", d)
	}
	fmt.Fprintf(tw, "%d better, %d worse, %d unchanged or not decidable\n", better, worse, same)
	return tw.Flush()
}

// format renders a median, or "—" for a side without values.
func format(v float64, u metric.Unit, n int) string {
	if n == 0 {
		return "—"
	}
	return metric.Format(v, u)
}
