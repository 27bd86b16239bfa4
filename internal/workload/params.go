package workload

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Params reads typed parameters; the first bad one is kept and reported by
// Err, naming the workload, the parameter and what is allowed.
type Params struct {
	id     ID
	values map[string]string
	err    error
}

// Err returns the first parse or range error.
func (p *Params) Err() error { return p.err }

func (p *Params) fail(name, want string) {
	if p.err == nil {
		p.err = fmt.Errorf("%s: parameter %s=%q: want %s", p.id, name, p.values[name], want)
	}
}

// Int parses an integer no smaller than min.
func (p *Params) Int(name string, min int64) int64 {
	v, err := strconv.ParseInt(strings.TrimSpace(p.values[name]), 10, 64)
	if err != nil || v < min {
		p.fail(name, fmt.Sprintf("an integer ≥ %d", min))
		return min
	}
	return v
}

// Bytes parses a size such as 64MiB, no smaller than min.
func (p *Params) Bytes(name string, min int64) int64 {
	v, err := parseSize(p.values[name])
	if err != nil || v < min {
		p.fail(name, fmt.Sprintf("a size ≥ %d bytes, e.g. 64MiB", min))
		return min
	}
	return v
}

// Duration parses a Go duration no shorter than min.
func (p *Params) Duration(name string, min time.Duration) time.Duration {
	v, err := time.ParseDuration(strings.TrimSpace(p.values[name]))
	if err != nil || v < min {
		p.fail(name, fmt.Sprintf("a duration ≥ %s, e.g. 2s", min))
		return min
	}
	return v
}

// String returns the raw value.
func (p *Params) String(name string) string { return p.values[name] }

var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, errors.New("not a size")
	}
	return n * mult, nil
}
