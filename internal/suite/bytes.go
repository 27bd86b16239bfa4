package suite

import (
	"fmt"
	"strconv"
	"strings"
)

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
	{"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1},
}

// ParseBytes reads sizes such as "512MiB", "1G" or "1048576". Decimal-looking
// suffixes (M, G) mean binary units, as in docker --memory.
func ParseBytes(s string) (int64, error) {
	in := strings.TrimSpace(s)
	mult := int64(1)
	num := in
	for _, u := range byteUnits {
		if strings.HasSuffix(in, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(in, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a size; use e.g. 512MiB, 1GiB or a byte count", s)
	}
	return int64(v * float64(mult)), nil
}
