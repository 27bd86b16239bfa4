package report

import (
	"bytes"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/metric"
	"github.com/isobench/isobench/internal/result"
)

// htmlRun is goldenRun plus a scale sweep, so every kind of chart appears.
func htmlRun() *result.Run {
	run := goldenRun()
	for _, level := range []int{1, 4} {
		w := fmt.Sprintf("scale-x%d", level)
		run.Config.Workloads = append(run.Config.Workloads, w)
		for i := range 6 {
			for _, b := range []struct {
				name  backend.Name
				accel backend.Accel
				base  float64
			}{{"process", backend.AccelNative, 0.01}, {"qemu", backend.AccelTCG, 2}} {
				v := b.base * float64(level) * (1 + float64(i)/50)
				run.Samples = append(run.Samples, result.Sample{Backend: b.name, Accel: b.accel, Workload: w, Rep: i,
					Metrics: []metric.Value{{Name: metric.ScaleInstanceP50, Unit: metric.Seconds, Value: v},
						{Name: metric.ScaleAllReady, Unit: metric.Seconds, Value: 1.2 * v},
						{Name: metric.ScaleLaunchRate, Unit: metric.OpsPerSec, Value: float64(level) / v},
						{Name: metric.ScalePSSPerInstance, Unit: metric.Bytes, Value: 3 << 20}}})
			}
		}
	}
	return run
}

func TestHTMLIsSelfContainedAndDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	if err := WriteHTML(&a, htmlRun()); err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(&b, htmlRun()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two writes of the same run differ")
	}
	page := a.String()
	for _, want := range []string{"qemu (EMULATED)", "reproduce: <code>isobench run --quick</code>", `id="c-coldstart-phases"`,
		`id="c-scale-0"`, `id="c-density-mem"`, "not measured: crun not found in PATH", "Chart.js v4.6.1"} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// Nothing is fetched: no external script, style, image or font.
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//`).FindString(page); m != "" {
		t.Errorf("report loads something from the network: %q", m)
	}
}

// TestHTMLRendersInChromium opens the report in headless Chromium: the
// page must report every chart drawn and no error, and a screenshot must
// show charts, not a blank page.
func TestHTMLRendersInChromium(t *testing.T) {
	browser := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		t.Skip("no chromium here (apt-get install chromium); scripts/test.sh installs it")
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	var buf bytes.Buffer
	if err := WriteHTML(&buf, htmlRun()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=10000",
		"--user-data-dir=" + filepath.Join(dir, "profile")}
	// --enable-logging=stderr prints every console message as a
	// "CONSOLE" line: the page must print none (no error, no warning).
	dump := exec.Command(browser, append(args, "--enable-logging=stderr", "--v=0", "--dump-dom", "file://"+page)...)
	var stderr bytes.Buffer
	dump.Stderr = &stderr
	dom, err := dump.Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v\n%s", err, stderr.String())
	}
	for line := range strings.SplitSeq(stderr.String(), "\n") {
		if strings.Contains(line, ":CONSOLE") {
			t.Errorf("browser console: %s", line)
		}
	}
	m := regexp.MustCompile(`data-charts-rendered="(\d+)" data-charts-total="(\d+)"`).FindSubmatch(dom)
	if m == nil {
		t.Fatalf("the page's script did not run: no chart counts in the DOM")
	}
	drawn, _ := strconv.Atoi(string(m[1]))
	total, _ := strconv.Atoi(string(m[2]))
	if drawn != total || total < 10 {
		t.Errorf("%d of %d charts drawn, want all (and at least 10)", drawn, total)
	}
	if e := regexp.MustCompile(`<div id="errors">([^<]*)</div>`).FindSubmatch(dom); e == nil || len(e[1]) > 0 {
		t.Errorf("errors on the page: %q", e)
	}
	shot := filepath.Join(dir, "shot.png")
	if out, err := exec.Command(browser, append(args, "--window-size=1280,2000", "--screenshot="+shot, "file://"+page)...).CombinedOutput(); err != nil {
		t.Fatalf("chromium --screenshot: %v\n%s", err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	colors := map[uint32]bool{}
	nonWhite := 0
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y += 2 {
		for x := bounds.Min.X; x < bounds.Max.X; x += 2 {
			r, g, b, _ := img.At(x, y).RGBA()
			colors[(r>>8)<<16|(g>>8)<<8|b>>8] = true
			if r < 0xf000 || g < 0xf000 || b < 0xf000 {
				nonWhite++
			}
		}
	}
	total = (bounds.Dx() / 2) * (bounds.Dy() / 2)
	if len(colors) < 50 || nonWhite < total/50 {
		t.Errorf("screenshot looks blank: %d colours, %d of %d sampled pixels not white", len(colors), nonWhite, total)
	}
}
