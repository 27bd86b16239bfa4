package workload

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"strings"
	"testing"
)

func archiveOf(t *testing.T, hdrs ...tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, h := range hdrs {
		if h.Typeflag == tar.TypeReg {
			h.Size = 1
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte("x"))
		}
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func TestCheckJobArchive(t *testing.T) {
	many := make([]tar.Header, MaxJobFiles+1)
	for i := range many {
		many[i] = tar.Header{Name: strings.Repeat("a", 1+i%50) + string(rune('a'+i%26)), Typeflag: tar.TypeReg, Mode: 0o644}
	}
	cases := []struct {
		name string
		data []byte
		want string // "" = valid
	}{
		{"files and dirs", archiveOf(t, tar.Header{Name: "src/", Typeflag: tar.TypeDir}, tar.Header{Name: "src/a.c", Typeflag: tar.TypeReg}, tar.Header{Name: "./b", Typeflag: tar.TypeReg}), ""},
		{"not gzip", []byte("plain text"), "not gzip"},
		{"parent", archiveOf(t, tar.Header{Name: "../x", Typeflag: tar.TypeReg}), "leaves the job directory"},
		{"nested parent", archiveOf(t, tar.Header{Name: "a/../../x", Typeflag: tar.TypeReg}), "leaves the job directory"},
		{"absolute", archiveOf(t, tar.Header{Name: "/etc/x", Typeflag: tar.TypeReg}), "relative path"},
		{"symlink", archiveOf(t, tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}), "only regular files"},
		{"hard link", archiveOf(t, tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "a"}), "only regular files"},
		{"device", archiveOf(t, tar.Header{Name: "d", Typeflag: tar.TypeChar}), "only regular files"},
		{"too many files", archiveOf(t, many...), "more than 1000 files"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CheckJobArchive(bytes.NewReader(tc.data))
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestCappedBuffer(t *testing.T) {
	c := &cappedBuffer{max: 4}
	c.Write([]byte("ab"))
	c.Write([]byte("cdef"))
	c.Write([]byte("\xff"))
	if got := c.String(); !strings.HasPrefix(got, "abcd\n[isobench: output truncated: 4 of 7 bytes kept]") || c.total != 7 {
		t.Errorf("got %q (total %d)", got, c.total)
	}
}
