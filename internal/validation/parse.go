// Package validation compares isobench's workloads with the standard tools
// they imitate (sysbench cpu, fio) on the native host. The comparison
// itself is a test behind the "validation" build tag (see
// docs/validation.md); this file holds the output parsers, which are pure
// and tested against captured output in testdata/.
package validation

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
)

var sysbenchEPS = regexp.MustCompile(`events per second:\s*([0-9.]+)`)

// parseSysbenchCPU returns "events per second" from `sysbench cpu run`.
func parseSysbenchCPU(out string) (float64, error) {
	m := sysbenchEPS.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no \"events per second\" in sysbench output %q", clip(out))
	}
	return strconv.ParseFloat(m[1], 64)
}

// fioResult is one direction of one fio job. fio's bw_bytes and iops
// exclude the time of a final fsync (end_fsync=1); JobRuntimeMS includes
// it, so IOBytes and TotalIOs over it give rates that count durability, as
// isobench's write figures do.
type fioResult struct {
	BWBytes      float64 `json:"bw_bytes"`
	IOPS         float64 `json:"iops"`
	IOBytes      float64 `json:"io_bytes"`
	TotalIOs     float64 `json:"total_ios"`
	JobRuntimeMS float64 `json:"-"`
}

// withFsync returns bytes/s and ops/s over the job's whole runtime.
func (r fioResult) withFsync() (bw, iops float64) {
	s := r.JobRuntimeMS / 1000
	return r.IOBytes / s, r.TotalIOs / s
}

// parseFio returns the first job's read or write figures from
// `fio --output-format=json`.
func parseFio(out []byte, write bool) (fioResult, error) {
	var doc struct {
		Jobs []struct {
			Error      int       `json:"error"`
			JobRuntime float64   `json:"job_runtime"`
			Read       fioResult `json:"read"`
			Write      fioResult `json:"write"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return fioResult{}, fmt.Errorf("parse fio output %q: %w", clip(string(out)), err)
	}
	if len(doc.Jobs) == 0 {
		return fioResult{}, fmt.Errorf("fio output has no jobs: %q", clip(string(out)))
	}
	j := doc.Jobs[0]
	if j.Error != 0 {
		return fioResult{}, fmt.Errorf("fio job failed with error %d", j.Error)
	}
	r := j.Read
	if write {
		r = j.Write
	}
	r.JobRuntimeMS = j.JobRuntime
	if r.BWBytes == 0 && r.IOPS == 0 {
		return fioResult{}, fmt.Errorf("fio job did no %s I/O", map[bool]string{true: "write", false: "read"}[write])
	}
	return r, nil
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// parseIperf3 returns the bytes per second the receiver counted, from
// `iperf3 -J` (end.sum_received, which is what crossed the link).
func parseIperf3(out []byte) (float64, error) {
	var doc struct {
		Error string `json:"error"`
		End   struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return 0, fmt.Errorf("parse iperf3 output %q: %w", clip(string(out)), err)
	}
	if doc.Error != "" {
		return 0, fmt.Errorf("iperf3: %s", doc.Error)
	}
	if doc.End.SumReceived.BitsPerSecond <= 0 {
		return 0, fmt.Errorf("iperf3 output has no received throughput: %q", clip(string(out)))
	}
	return doc.End.SumReceived.BitsPerSecond / 8, nil
}
