package tools

import (
	"encoding/json"
	"fmt"
)

// Iperf3 is what isobench takes from iperf3 -J.
type Iperf3 struct {
	// BitsPerSecond is the receiver's throughput (TCP) or the sender's
	// rate (UDP).
	BitsPerSecond float64
	// HostCPU and RemoteCPU are the client's and the server's total CPU
	// use during the test, in percent of one CPU.
	HostCPU, RemoteCPU float64
	// UDP only.
	JitterSeconds, LostPercent float64
	UDP                        bool
}

// ParseIperf3 reads iperf3's JSON report (-J), TCP or UDP.
func ParseIperf3(out []byte) (Iperf3, error) {
	var rep struct {
		Start struct {
			Test struct {
				Protocol string `json:"protocol"`
			} `json:"test_start"`
		} `json:"start"`
		End struct {
			SumReceived *struct {
				BPS         float64 `json:"bits_per_second"`
				JitterMS    float64 `json:"jitter_ms"`
				LostPercent float64 `json:"lost_percent"`
			} `json:"sum_received"`
			Sum *struct {
				BPS         float64 `json:"bits_per_second"`
				JitterMS    float64 `json:"jitter_ms"`
				LostPercent float64 `json:"lost_percent"`
			} `json:"sum"`
			CPU *struct {
				Host   float64 `json:"host_total"`
				Remote float64 `json:"remote_total"`
			} `json:"cpu_utilization_percent"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		return Iperf3{}, fmt.Errorf("iperf3: JSON report: %w (%s)", err, firstLine(string(out)))
	}
	if rep.Error != "" {
		return Iperf3{}, fmt.Errorf("iperf3: %s", rep.Error)
	}
	var r Iperf3
	if rep.End.CPU == nil {
		return Iperf3{}, fmt.Errorf("iperf3: the report has no end.cpu_utilization_percent")
	}
	r.HostCPU, r.RemoteCPU = rep.End.CPU.Host, rep.End.CPU.Remote
	switch rep.Start.Test.Protocol {
	case "UDP":
		r.UDP = true
		// The receiver's view (jitter and loss are measured there); iperf3
		// before 3.13 reports it only in end.sum.
		switch {
		case rep.End.SumReceived != nil:
			r.BitsPerSecond = rep.End.SumReceived.BPS
			r.JitterSeconds = rep.End.SumReceived.JitterMS / 1e3
			r.LostPercent = rep.End.SumReceived.LostPercent
		case rep.End.Sum != nil:
			r.BitsPerSecond = rep.End.Sum.BPS
			r.JitterSeconds = rep.End.Sum.JitterMS / 1e3
			r.LostPercent = rep.End.Sum.LostPercent
		default:
			return Iperf3{}, fmt.Errorf("iperf3: the UDP report has no end.sum_received or end.sum")
		}
	default:
		if rep.End.SumReceived == nil {
			return Iperf3{}, fmt.Errorf("iperf3: the TCP report has no end.sum_received")
		}
		r.BitsPerSecond = rep.End.SumReceived.BPS
	}
	return r, nil
}
