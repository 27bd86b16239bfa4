package grader

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

func writeTarGz(w io.Writer, name string, typ byte, content string) error {
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	h := &tar.Header{Name: name, Typeflag: typ, Mode: 0o644}
	if typ == tar.TypeSymlink {
		h.Linkname = content
	} else {
		h.Size = int64(len(content))
	}
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	if typ != tar.TypeSymlink {
		if _, err := io.WriteString(tw, content); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// testPostgres starts a private PostgreSQL server (initdb in a temp dir,
// Unix socket only, stopped at the end of the test) and returns its URL,
// or "" and why it cannot. In CI (CI=true) a missing PostgreSQL fails.
func testPostgres(t *testing.T) (string, string) {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		reason := "PostgreSQL is not installed (apt-get install postgresql; scripts/test.sh does)"
		if os.Getenv("CI") == "true" {
			t.Fatal(reason)
		}
		return "", reason
	}
	bin := filepath.Dir(bins[len(bins)-1])
	pg, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("PostgreSQL is installed but has no postgres user: %v", err)
	}
	uid, _ := strconv.Atoi(pg.Uid)
	gid, _ := strconv.Atoi(pg.Gid)
	dir, err := os.MkdirTemp("", "isobench-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	as := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		cmd.Dir = dir
		return cmd
	}
	data := filepath.Join(dir, "data")
	if out, err := as("initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v: %s", err, out)
	}
	port := freePort(t)
	// Unix socket only: no TCP listener at all.
	start := as("pg_ctl", "-D", data, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "-o",
		fmt.Sprintf("-k %s -p %d -c listen_addresses='' -c fsync=off", dir, port), "start")
	if out, err := start.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		t.Fatalf("pg_ctl start: %v: %s\n%s", err, out, log)
	}
	t.Cleanup(func() {
		if out, err := as("pg_ctl", "-D", data, "-m", "immediate", "-w", "-t", "30", "stop").CombinedOutput(); err != nil {
			t.Errorf("pg_ctl stop: %v: %s", err, out)
		}
	})
	return fmt.Sprintf("postgres://postgres@/postgres?host=%s&port=%d&sslmode=disable", dir, port), ""
}

// freePort picks a port number for the socket file's name; nothing listens
// on TCP.
func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
