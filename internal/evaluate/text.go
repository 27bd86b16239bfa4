package evaluate

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteText prints the ranking: per backend its total and its score on
// each criterion (weights in the header), then each backend's reasons.
func WriteText(w io.Writer, p Profile, scores []Score) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "profile %s: %s\n", p.Name, strings.TrimSpace(p.Description))
	fmt.Fprintln(tw, "scores 0–10 per criterion (measured: 10 × best/value; properties: documented facts, docs/evaluation.md); total: the weighted mean")
	fmt.Fprint(tw, "RANK\tBACKEND\tTOTAL")
	for _, c := range p.Criteria {
		fmt.Fprintf(tw, "\t%s (×%g)", c, c.Weight)
	}
	fmt.Fprintln(tw)
	for i, s := range scores {
		name := string(s.Backend)
		if s.Emulated {
			name += " (EMULATED)"
		}
		fmt.Fprintf(tw, "%d\t%s\t%.1f", i+1, name, s.Total)
		for _, part := range s.Parts {
			if part.Scored {
				fmt.Fprintf(tw, "\t%.1f", part.Score)
			} else {
				fmt.Fprint(tw, "\t—")
			}
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, s := range scores {
		fmt.Fprintf(tw, "%s: %.1f on %g of %g weight\n", s.Backend, s.Total, s.Weight, totalWeight(p))
		if s.Emulated {
			fmt.Fprintln(tw, "  EMULATED (TCG): its measured figures understate what it does with hardware virtualization")
		}
		for _, part := range s.Parts {
			score := "—"
			if part.Scored {
				score = fmt.Sprintf("%.1f", part.Score)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", part.Criterion.String(), score, part.Why)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "the native process is the baseline, not a candidate: it is not ranked")
	return nil
}

func totalWeight(p Profile) float64 {
	var sum float64
	for _, c := range p.Criteria {
		sum += c.Weight
	}
	return sum
}
