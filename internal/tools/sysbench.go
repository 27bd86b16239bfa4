// Package tools parses the reports of the standard benchmark tools that
// isobench runs (sysbench, fio, iperf3, ApacheBench) into numbers in base
// units. Each parser is tested on output captured from the real tool
// (testdata/); a report that lacks a figure is an error naming it, never a
// zero.
package tools

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// SysbenchReport is sysbench's human-readable report, as "section/key"
// → number. "transactions: 1234 (123.40 per sec.)" gives both
// "SQL statistics/transactions" and "SQL statistics/transactions per sec.".
type SysbenchReport map[string]float64

// ParseSysbench reads a sysbench 1.0 report.
func ParseSysbench(out string) (SysbenchReport, error) {
	r := SysbenchReport{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if trimmed == "" {
			continue
		}
		key, val, ok := strings.Cut(trimmed, ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		if val == "" {
			// A heading: top level ("General statistics:") or a group
			// within one ("queries performed:").
			if line == trimmed {
				section = key
			}
			continue
		}
		if line == trimmed {
			continue // "Number of threads: 1" and the like
		}
		num, rest, _ := strings.Cut(val, " ")
		num = strings.TrimSuffix(num, "s") // "10.0005s"
		if f, err := strconv.ParseFloat(num, 64); err == nil {
			r[section+"/"+key] = f
		} else if a, _, ok := strings.Cut(val, "/"); ok { // "12345.0000/0.00"
			if f, err := strconv.ParseFloat(a, 64); err == nil {
				r[section+"/"+key] = f
			}
		}
		// "(123.40 per sec.)"
		if i := strings.Index(rest, "("); i >= 0 {
			inner := strings.TrimSuffix(strings.TrimSpace(rest[i+1:]), ")")
			if n, unit, ok := strings.Cut(inner, " "); ok {
				if f, err := strconv.ParseFloat(n, 64); err == nil {
					r[section+"/"+key+" "+unit] = f
				}
			}
		}
	}
	if len(r) == 0 {
		return nil, fmt.Errorf("sysbench: no statistics in its output (%s)", firstLine(out))
	}
	return r, nil
}

// Get returns a figure or an error naming it.
func (r SysbenchReport) Get(key string) (float64, error) {
	v, ok := r[key]
	if !ok {
		return 0, fmt.Errorf("sysbench: the report has no %q", key)
	}
	return v, nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		return "empty"
	}
	return strings.TrimSpace(s)
}
