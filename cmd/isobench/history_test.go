package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestHistoryCommands(t *testing.T) {
	dir := t.TempDir()
	hist := t.TempDir()
	old := writeRun(t, dir, "aaaa0001", 0.100, 0.101, 0.099, 0.102, 0.098, 0.100)
	slower := writeRun(t, dir, "bbbb0002", 0.150, 0.151, 0.149, 0.152, 0.148, 0.150)
	run := func(args ...string) (string, int) {
		cmd := newRootCommand(context.Background(), &hooks{})
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(append(args, "--history", hist))
		err := cmd.Execute()
		return out.String(), exitCodeQuiet(err)
	}
	for _, tc := range []struct {
		args     []string
		wantCode int
		want     string
	}{
		{[]string{"history", "add", old, slower}, exitOK, "stored bbbb0002"},
		{[]string{"history", "list"}, exitOK, "aaaa0001"},
		{[]string{"history", "show", "bbbb"}, exitOK, "150 ms"},
		{[]string{"history", "show", "zzzz"}, exitUsage, ""},
		{[]string{"history", "trend", "--backend", "runc", "--metric", "coldstart"}, exitOK, "+50.0%"},
		{[]string{"history", "trend", "--backend", "runc", "--metric", "cpu.events_per_sec"}, exitUsage, ""},
		{[]string{"history", "trend", "--metric", "coldstart"}, exitUsage, ""},
		{[]string{"history", "prune"}, exitUsage, ""},
		{[]string{"history", "prune", "--keep", "1"}, exitOK, "removed aaaa0001"},
		{[]string{"history", "list"}, exitOK, "bbbb0002"},
	} {
		out, code := run(tc.args...)
		if code != tc.wantCode || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, output:\n%s\nwant exit %d and %q", tc.args, code, out, tc.wantCode, tc.want)
		}
	}
	if out, _ := run("history", "list"); strings.Contains(out, "aaaa0001") {
		t.Errorf("pruned run still listed:\n%s", out)
	}
}
