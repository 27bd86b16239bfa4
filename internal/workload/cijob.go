package workload

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/isobench/isobench/internal/metric"
)

// CIJob is the reference evaluation's CI job: build a C++ library and its
// unit tests with coverage, run the tests under valgrind, then lcov and
// cppcheck. The project is isobench's own (cijob/), embedded in the agent.
const CIJob ID = "cijob"

//go:embed cijob
var cijobProject embed.FS

// cijobScript runs the steps and prints each one's wall time in ns. Every
// step must succeed: a failing test or a cppcheck finding fails the job.
const cijobScript = `set -e
cd %[1]s
t() { date +%%s%%N; }
a=$(t); make -s; b=$(t); echo "@@compile $((b-a))"
a=$(t); valgrind -q --error-exitcode=1 --leak-check=full ./test_runner; b=$(t); echo "@@test $((b-a))"
a=$(t); lcov -q --capture --directory . --output-file coverage.info --no-external 2>/dev/null; genhtml -q coverage.info --output-directory coverage; b=$(t); echo "@@lcov $((b-a))"
a=$(t); cppcheck -q --enable=warning,style,performance,portability --error-exitcode=1 --std=c++17 src tests; b=$(t); echo "@@cppcheck $((b-a))"
`

var cijobStep = regexp.MustCompile(`@@(compile|test|lcov|cppcheck) (\d+)`)

func cijobSpec() Spec {
	return Spec{
		ID:          CIJob,
		Description: "a C++ CI job on the scratch volume: g++ --coverage build, unit tests under valgrind, lcov report, cppcheck",
		Metrics:     []metric.Name{metric.CIJobCompile, metric.CIJobTest, metric.CIJobCoverage, metric.CIJobAnalysis, metric.CIJobTotal},
		Parse: func(p Params) (Runner, error) {
			return runnerFunc(func(ctx context.Context) (Output, error) {
				var out Output
				// The agent's path of the scratch volume, which the tools
				// see as /scratch.
				dir := os.Getenv(ScratchEnv)
				if dir == "" {
					return out, fmt.Errorf("cijob: no scratch volume (%s is not set)", ScratchEnv)
				}
				project := filepath.Join(dir, "cijob")
				if err := os.RemoveAll(project); err != nil {
					return out, fmt.Errorf("cijob: %w", err)
				}
				defer os.RemoveAll(project)
				if err := writeProject(project); err != nil {
					return out, fmt.Errorf("cijob: write the project: %w", err)
				}
				start := time.Now()
				text, err := shell(ctx, fmt.Sprintf(cijobScript, scratchInTool+"/cijob"))
				total := time.Since(start)
				if err != nil {
					return out, fmt.Errorf("cijob: %w", err)
				}
				steps := map[string]float64{}
				for _, m := range cijobStep.FindAllStringSubmatch(text, -1) {
					ns, _ := strconv.ParseInt(m[2], 10, 64)
					steps[m[1]] = float64(ns) / 1e9
				}
				for _, s := range []struct {
					step string
					name metric.Name
				}{{"compile", metric.CIJobCompile}, {"test", metric.CIJobTest}, {"lcov", metric.CIJobCoverage}, {"cppcheck", metric.CIJobAnalysis}} {
					v, ok := steps[s.step]
					if !ok {
						return out, fmt.Errorf("cijob: no time for step %s in its output: %s", s.step, lastLines(text, 8))
					}
					out.add(s.name, metric.Seconds, v)
				}
				out.add(metric.CIJobTotal, metric.Seconds, total.Seconds())
				return out, nil
			}), nil
		},
	}
}

// writeProject copies the embedded project to dir.
func writeProject(dir string) error {
	return fs.WalkDir(cijobProject, "cijob", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("cijob", path)
		dst := filepath.Join(dir, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := cijobProject.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
}
