package tools

import (
	"encoding/json"
	"fmt"
	"strings"
)

// FioJob is one job of fio's --output-format=json report.
type FioJob struct {
	Name  string `json:"jobname"`
	Error int    `json:"error"`
	Read  FioIO  `json:"read"`
	Write FioIO  `json:"write"`
}

// FioIO is one direction of a job.
type FioIO struct {
	IOBytes int64   `json:"io_bytes"`
	BWBytes float64 `json:"bw_bytes"` // bytes/s
	IOPS    float64 `json:"iops"`
	Clat    struct {
		Mean        float64            `json:"mean"` // ns
		Percentiles map[string]float64 `json:"percentile"`
	} `json:"clat_ns"`
}

// ClatP returns a completion-latency percentile in seconds ("99.000000").
func (io FioIO) ClatP(p string) (float64, bool) {
	v, ok := io.Clat.Percentiles[p]
	return v / 1e9, ok
}

// ParseFio reads fio's JSON report. fio may print warnings before the
// JSON object; they are skipped.
func ParseFio(out string) ([]FioJob, error) {
	i := strings.IndexByte(out, '{')
	if i < 0 {
		return nil, fmt.Errorf("fio: no JSON report in its output (%s)", firstLine(out))
	}
	var rep struct {
		Version string   `json:"fio version"`
		Jobs    []FioJob `json:"jobs"`
	}
	// One JSON value: warnings may follow it on the shared output.
	if err := json.NewDecoder(strings.NewReader(out[i:])).Decode(&rep); err != nil {
		return nil, fmt.Errorf("fio: JSON report: %w", err)
	}
	if len(rep.Jobs) == 0 {
		return nil, fmt.Errorf("fio: the report has no jobs")
	}
	for _, j := range rep.Jobs {
		if j.Error != 0 {
			return nil, fmt.Errorf("fio: job %s failed with error %d", j.Name, j.Error)
		}
	}
	return rep.Jobs, nil
}
