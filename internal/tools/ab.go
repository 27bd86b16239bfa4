package tools

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// AB is what isobench takes from ApacheBench's report.
type AB struct {
	Complete, Failed, Non2xx int
	RequestsPerSecond        float64
	// MeanTimePerRequest is ab's "Time per request (mean)": the mean
	// latency a client sees at the test's concurrency, in seconds.
	MeanTimePerRequest float64
}

// ParseAB reads ab's report.
func ParseAB(out string) (AB, error) {
	var r AB
	var haveRPS, haveTPR, haveComplete bool
	var bad error
	atoi := func(field, s string) int {
		n, err := strconv.Atoi(s)
		if err != nil && bad == nil {
			bad = fmt.Errorf("ab: %q is %q, not a number", field, s)
		}
		return n
	}
	atof := func(field, s string) float64 {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil && bad == nil {
			bad = fmt.Errorf("ab: %q is %q, not a number", field, s)
		}
		return f
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(val)
		if len(fields) == 0 {
			continue
		}
		num, field := fields[0], strings.TrimSpace(key)
		switch field {
		case "Complete requests":
			r.Complete, haveComplete = atoi(field, num), true
		case "Failed requests":
			r.Failed = atoi(field, num)
		case "Non-2xx responses":
			r.Non2xx = atoi(field, num)
		case "Requests per second":
			r.RequestsPerSecond, haveRPS = atof(field, num), true
		case "Time per request":
			if strings.Contains(val, "(mean)") { // not "(mean, across all concurrent requests)"
				r.MeanTimePerRequest, haveTPR = atof(field, num)/1e3, true
			}
		}
	}
	if bad != nil {
		return AB{}, bad
	}
	switch {
	case !haveComplete:
		return AB{}, fmt.Errorf("ab: the report has no \"Complete requests\" (%s)", firstLine(out))
	case !haveRPS:
		return AB{}, fmt.Errorf("ab: the report has no \"Requests per second\"")
	case !haveTPR:
		return AB{}, fmt.Errorf("ab: the report has no \"Time per request (mean)\"")
	}
	return r, nil
}
