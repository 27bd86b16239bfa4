package workload

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/isobench/isobench/internal/metric"
)

// ScratchEnv names the environment variable through which a backend tells
// the agent where its scratch volume (host disk, bind-mounted or attached)
// is mounted inside the sandbox.
const ScratchEnv = "ISOBENCH_SCRATCH"

// RootDirEnv names a writable directory on the sandbox's root filesystem,
// set by backends launched with a writable root.
const RootDirEnv = "ISOBENCH_ROOTDIR"

func fileioSpec() Spec {
	return Spec{
		ID:          FileIO,
		Description: "sequential and random 4 KiB file I/O on the scratch volume, buffered (page cache evicted before reads) and with O_DIRECT",
		Params: []Param{
			{Name: "dir", Default: "$" + ScratchEnv, Help: "directory to test; default: the backend's scratch volume"},
			{Name: "size", Default: "256MiB", Quick: "32MiB", Help: "test file size"},
			{Name: "block", Default: "1MiB", Help: "sequential I/O size"},
			{Name: "rand_block", Default: "4KiB", Help: "random I/O size"},
			{Name: "duration", Default: "2s", Quick: "300ms", Help: "time per random-I/O measurement"},
		},
		Metrics: []metric.Name{metric.FileSeqWrite, metric.FileSeqRead, metric.FileRandWrite, metric.FileRandRead,
			metric.FileSeqWriteDirect, metric.FileSeqReadDirect, metric.FileRandWriteDirect, metric.FileRandReadDirect},
		Parse: func(p Params) (Runner, error) {
			w := FileBench{Dir: p.String("dir"), Size: p.Bytes("size", 1<<20), Block: p.Bytes("block", 4096),
				RandBlock: p.Bytes("rand_block", 512), Duration: p.Duration("duration", time.Millisecond)}
			if err := p.Err(); err != nil {
				return nil, err
			}
			if w.Block%4096 != 0 || w.RandBlock%512 != 0 || w.Size%w.Block != 0 {
				return nil, fmt.Errorf("fileio: block (%d) must be a multiple of 4096, rand_block (%d) of 512, and size (%d) of block, so O_DIRECT can use them", w.Block, w.RandBlock, w.Size)
			}
			return w, nil
		},
	}
}

// FileBench measures file I/O the way fio's psync engine does: one thread,
// pread/pwrite, fsync included in write figures.
type FileBench struct {
	Dir       string
	Size      int64
	Block     int64
	RandBlock int64
	Duration  time.Duration
}

type fileMetrics struct{ seqWrite, seqRead, randWrite, randRead metric.Name }

func (m fileMetrics) all() []metric.Name {
	return []metric.Name{m.seqWrite, m.seqRead, m.randWrite, m.randRead}
}

var (
	buffered = fileMetrics{metric.FileSeqWrite, metric.FileSeqRead, metric.FileRandWrite, metric.FileRandRead}
	direct   = fileMetrics{metric.FileSeqWriteDirect, metric.FileSeqReadDirect, metric.FileRandWriteDirect, metric.FileRandReadDirect}
)

func (w FileBench) Run(ctx context.Context) (Output, error) {
	lockThread()
	var out Output
	dir := w.Dir
	if env, ok := strings.CutPrefix(dir, "$"); ok {
		if dir = os.Getenv(env); dir == "" {
			// Not a failure of the sandbox: this backend has no such volume.
			reason := fmt.Sprintf("this backend gives the sandbox no %s", map[string]string{ScratchEnv: "scratch volume", RootDirEnv: "writable root filesystem"}[env])
			for _, n := range append(append([]metric.Name{}, buffered.all()...), direct.all()...) {
				out.skip(n, reason)
			}
			return out, nil
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return out, fmt.Errorf("fileio: %w", err)
	}
	path := filepath.Join(dir, fmt.Sprintf("isobench-fileio-%d", os.Getpid()))
	defer os.Remove(path)
	buf, err := unix.Mmap(-1, 0, int(max(w.Block, w.RandBlock)), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return out, fmt.Errorf("fileio: buffer: %w", err)
	}
	defer unix.Munmap(buf) // page-aligned, as O_DIRECT requires
	r := rand.New(rand.NewPCG(3, 4))
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	if err := w.layout(path, buf); err != nil {
		return out, err
	}
	if err := w.pass(ctx, path, 0, buf, buffered, &out); err != nil {
		return out, err
	}
	err = w.pass(ctx, path, unix.O_DIRECT, buf, direct, &out)
	if errors.Is(err, errDirectUnsupported) {
		reason := fmt.Sprintf("O_DIRECT not supported on %s (%s)", dir, FSName(dir))
		for _, n := range []metric.Name{direct.seqWrite, direct.seqRead, direct.randWrite, direct.randRead} {
			out.skip(n, reason)
		}
		return out, nil
	}
	return out, err
}

// errDirectUnsupported: the filesystem refuses to open files with O_DIRECT.
// Only that refusal makes the direct figures "not applicable"; any later
// EINVAL is a real error.
var errDirectUnsupported = errors.New("O_DIRECT unsupported")

// layout writes the whole test file once, untimed, as fio lays out its
// files: every measurement then works on allocated, written blocks, so
// write figures are the I/O path rather than the filesystem's allocator
// and its unwritten-extent conversions (which halved O_DIRECT sequential
// writes on ext4 here).
func (w FileBench) layout(path string, buf []byte) error {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("fileio: create %s: %w", path, err)
	}
	defer unix.Close(fd)
	blk := buf[:w.Block]
	for off := int64(0); off < w.Size; off += w.Block {
		if _, err := unix.Pwrite(fd, blk, off); err != nil {
			return fmt.Errorf("fileio: lay out %s: %w", path, err)
		}
	}
	if err := unix.Fsync(fd); err != nil {
		return fmt.Errorf("fileio: fsync: %w", err)
	}
	return nil
}

// pass runs the four measurements with the given extra open flags. Every
// measurement starts with the file out of the page cache, as fio's
// invalidate=1 does: a cached page is cheaper to read and, on ext4 here,
// dearer to overwrite than an uncached one (70k vs 350k 4 KiB writes/s).
func (w FileBench) pass(ctx context.Context, path string, flags int, buf []byte, m fileMetrics, out *Output) error {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC|flags, 0)
	if err != nil {
		if flags&unix.O_DIRECT != 0 && errors.Is(err, unix.EINVAL) {
			return errDirectUnsupported
		}
		return fmt.Errorf("fileio: open %s: %w", path, err)
	}
	defer unix.Close(fd)
	blk := buf[:w.Block]
	evict(fd)
	start := time.Now()
	for off := int64(0); off < w.Size; off += w.Block {
		if _, err := unix.Pwrite(fd, blk, off); err != nil {
			return fmt.Errorf("fileio: sequential write: %w", err)
		}
	}
	if err := unix.Fsync(fd); err != nil {
		return fmt.Errorf("fileio: fsync: %w", err)
	}
	out.add(m.seqWrite, metric.BytesPerSec, float64(w.Size)/time.Since(start).Seconds())
	if err := ctx.Err(); err != nil {
		return err
	}

	evict(fd)
	start = time.Now()
	for off := int64(0); off < w.Size; off += w.Block {
		if _, err := unix.Pread(fd, blk, off); err != nil {
			return fmt.Errorf("fileio: sequential read: %w", err)
		}
	}
	out.add(m.seqRead, metric.BytesPerSec, float64(w.Size)/time.Since(start).Seconds())

	rblk := buf[:w.RandBlock]
	evict(fd)
	offsets := newRandomMap(w.Size/w.RandBlock, w.RandBlock, 5)
	ops := 0
	start = time.Now()
	for time.Since(start) < w.Duration && ctx.Err() == nil {
		for range 64 {
			if _, err := unix.Pwrite(fd, rblk, offsets.next()); err != nil {
				return fmt.Errorf("fileio: random write: %w", err)
			}
		}
		ops += 64
	}
	if err := unix.Fsync(fd); err != nil {
		return fmt.Errorf("fileio: fsync: %w", err)
	}
	out.add(m.randWrite, metric.OpsPerSec, float64(ops)/time.Since(start).Seconds())

	evict(fd)
	offsets = newRandomMap(w.Size/w.RandBlock, w.RandBlock, 6)
	ops = 0
	start = time.Now()
	for time.Since(start) < w.Duration && ctx.Err() == nil {
		for range 64 {
			if _, err := unix.Pread(fd, rblk, offsets.next()); err != nil {
				return fmt.Errorf("fileio: random read: %w", err)
			}
		}
		ops += 64
	}
	out.add(m.randRead, metric.OpsPerSec, float64(ops)/time.Since(start).Seconds())
	return ctx.Err()
}

// randomMap yields every block offset once in a random order before any
// repeats, as fio's random map does: a repeated block would be served from
// the page cache and inflate buffered random reads.
type randomMap struct {
	order []uint32
	block int64
	i     int
	r     *rand.Rand
}

func newRandomMap(blocks, block int64, seed uint64) *randomMap {
	m := &randomMap{order: make([]uint32, blocks), block: block, r: rand.New(rand.NewPCG(seed, seed+1))}
	for i := range m.order {
		m.order[i] = uint32(i)
	}
	m.shuffle()
	return m
}

func (m *randomMap) shuffle() {
	m.r.Shuffle(len(m.order), func(i, j int) { m.order[i], m.order[j] = m.order[j], m.order[i] })
	m.i = 0
}

func (m *randomMap) next() int64 {
	if m.i == len(m.order) {
		m.shuffle()
	}
	off := int64(m.order[m.i]) * m.block
	m.i++
	return off
}

// evict drops the file's clean pages from the page cache (after the fsync
// that made them clean), so buffered reads come from the device, as fio's
// invalidate=1 does. A user-space kernel (gVisor) may keep a cache of its
// own that this cannot reach; docs/validation.md says so.
func evict(fd int) {
	_ = unix.Fdatasync(fd)
	_ = unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED)
}

// FSName names the filesystem type of dir, for messages and records.
func FSName(dir string) string {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil {
		return "unknown filesystem"
	}
	switch st.Type {
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.EXT4_SUPER_MAGIC:
		return "ext4"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlayfs"
	case 0x01021997:
		return "9p"
	}
	return fmt.Sprintf("filesystem 0x%x", st.Type)
}
