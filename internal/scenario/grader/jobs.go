package grader

import (
	"fmt"
	"slices"
	"strings"
)

// Job is a submission the load test sends, with how to tell it was graded
// right.
type Job struct {
	Kind    string
	Command string
	Files   map[string]string
	// Expect is the verdict a correct service gives it, and ExpectLog a
	// line its log must hold.
	Expect    Verdict
	ExpectLog string
}

// JobKinds lists the load test's jobs. The reference CI job compiled a C++
// library and ran its unit tests; a sandbox here holds only busybox, so
// "unit" is its shape in shell and awk: build the student's programs (a
// syntax check), then one process per test case comparing output with the
// expected, and a report. "cpu" is pure computation, "io" file churn
// with fsync and checksums.
func JobKinds() []string { return []string{"unit", "cpu", "io"} }

// NewJob returns a job of the given kind.
func NewJob(kind string) (Job, error) {
	switch kind {
	case "unit":
		return unitJob(), nil
	case "cpu":
		return Job{Kind: kind, Expect: VerdictPassed, ExpectLog: "primes below 60000: 6057",
			Command: `awk 'BEGIN { n = 0; for (i = 2; i < 60000; i++) { p = 1; for (j = 2; j * j <= i; j++) if (i % j == 0) { p = 0; break }; n += p }; print "primes below 60000: " n; exit (n == 6057 ? 0 : 1) }'`}, nil
	case "io":
		return Job{Kind: kind, Expect: VerdictPassed, ExpectLog: "io: ok", Files: map[string]string{"io.sh": ioScript}, Command: "sh io.sh"}, nil
	}
	return Job{}, fmt.Errorf("jobs: %q is not a job kind (valid: %s)", kind, strings.Join(JobKinds(), ", "))
}

// ValidJobKinds checks a --jobs list.
func ValidJobKinds(kinds []string) error {
	if len(kinds) == 0 {
		return fmt.Errorf("jobs: empty; use some of %s", strings.Join(JobKinds(), ", "))
	}
	for _, k := range kinds {
		if !slices.Contains(JobKinds(), k) {
			return fmt.Errorf("jobs: %q is not a job kind (valid: %s)", k, strings.Join(JobKinds(), ", "))
		}
	}
	return nil
}

const ioScript = `set -e
mkdir -p data
i=0
while [ $i -lt 200 ]; do
	echo "record $i $(date +%s)" > data/f$i.txt
	i=$((i + 1))
done
# head, not dd: a read from /dev/urandom may return less than asked (gVisor
# here returned short reads of 64 KiB), and dd counts a short read as a block.
head -c 16777216 /dev/urandom > data/big.bin
sync
sha256sum data/* > sums.txt
sha256sum -c sums.txt > /dev/null
cat data/big.bin data/big.bin > data/copy.bin
sync
[ "$(wc -c < data/copy.bin)" -eq 33554432 ]
rm -r data
echo "io: ok"
`

// unitJob is a student's assignment: an RPN calculator and a word counter
// in awk, with the course's test cases.
func unitJob() Job {
	files := map[string]string{
		"src/rpn.awk": `{
	sp = 0
	for (i = 1; i <= NF; i++) {
		t = $i
		if (t ~ /^-?[0-9]+(\.[0-9]+)?$/) { st[++sp] = t + 0; continue }
		if (sp < 2) { print "error: stack underflow"; next }
		b = st[sp--]; a = st[sp--]
		if (t == "+") r = a + b
		else if (t == "-") r = a - b
		else if (t == "*") r = a * b
		else if (t == "/") { if (b == 0) { print "error: division by zero"; next }; r = a / b }
		else { print "error: unknown token " t; next }
		st[++sp] = r
	}
	if (sp != 1) { print "error: " sp " values left"; next }
	print st[1]
}
`,
		"src/wordcount.awk": `{ for (i = 1; i <= NF; i++) { w = tolower($i); gsub(/[^a-z]/, "", w); if (w != "") c[w]++ } }
END { for (w in c) print c[w], w }
`,
		"test.sh": `set -u
pass=0; fail=0
# "Build": every program must parse.
for p in src/*.awk; do
	awk -f "$p" < /dev/null > /dev/null || { echo "BUILD FAILED: $p"; exit 2; }
done
check() { # name, expected, actual
	if [ "$2" = "$3" ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL $1: expected [$2] got [$3]"; fi
}
while IFS='|' read -r expr want; do
	check "rpn $expr" "$want" "$(echo "$expr" | awk -f src/rpn.awk)"
done < tests/rpn.txt
n=0
while IFS='|' read -r text want; do
	n=$((n + 1))
	check "wordcount $n" "$want" "$(echo "$text" | awk -f src/wordcount.awk | sort -k1,1nr -k2 | head -1)"
done < tests/words.txt
echo "PASS $pass/$((pass + fail))"
[ "$fail" -eq 0 ]
`,
	}
	var rpn, words strings.Builder
	for i := 1; i <= 20; i++ {
		fmt.Fprintf(&rpn, "%d %d + %d *|%d\n", i, i+1, i+2, (i+i+1)*(i+2))
	}
	fmt.Fprintf(&rpn, "1 0 /|error: division by zero\n2 +|error: stack underflow\n3 4 5|error: 3 values left\n7 2 -|5\n")
	for i := 1; i <= 16; i++ {
		fmt.Fprintf(&words, "%s the end|%d the\n", strings.Repeat("The cat saw the dog. ", i), 2*i+1)
	}
	files["tests/rpn.txt"] = rpn.String()
	files["tests/words.txt"] = words.String()
	return Job{Kind: "unit", Files: files, Command: "sh test.sh", Expect: VerdictPassed, ExpectLog: "PASS 40/40"}
}
