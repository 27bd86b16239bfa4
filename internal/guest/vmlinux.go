package guest

import (
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
)

// Vmlinux returns an uncompressed ELF image of k for VMMs that boot no
// bzImage (Firecracker loads ELF kernels; Cloud Hypervisor enters them
// through their PVH note). A bzImage's compressed payload is extracted
// once into the cache; a kernel that is ELF already is used as is.
func Vmlinux(cacheDir string, k Kernel) (string, error) {
	if isELF(k.Path) {
		return k.Path, nil
	}
	key, err := contentKey([]string{k.Path}, "")
	if err != nil {
		return "", fmt.Errorf("kernel %s: %w", k.Path, err)
	}
	path := filepath.Join(cacheDir, "vmlinux-"+key[:16])
	if isELF(path) {
		return path, nil
	}
	img, err := os.ReadFile(k.Path)
	if err != nil {
		return "", fmt.Errorf("kernel %s: %w", k.Path, err)
	}
	elfImg, err := ExtractVmlinux(img)
	if err != nil {
		return "", fmt.Errorf("kernel %s: %w", k.Path, err)
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(cacheDir, ".vmlinux-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(elfImg)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err != nil {
		return "", fmt.Errorf("vmlinux cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("vmlinux cache: %w", err)
	}
	return path, nil
}

func isELF(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	magic := make([]byte, 4)
	_, err = io.ReadFull(f, magic)
	return err == nil && string(magic) == elf.ELFMAG
}

// ExtractVmlinux decompresses a bzImage's payload, found through the boot
// protocol header (payload_offset and payload_length, protocol 2.08 and
// later), and checks that it is an ELF image.
func ExtractVmlinux(img []byte) ([]byte, error) {
	if len(img) < 0x250 || string(img[0x202:0x206]) != "HdrS" {
		return nil, errors.New("not a bzImage (no HdrS boot header at 0x202)")
	}
	if proto := binary.LittleEndian.Uint16(img[0x206:]); proto < 0x208 {
		return nil, fmt.Errorf("boot protocol %#x predates payload_offset (2.08)", proto)
	}
	setupSects := int(img[0x1f1])
	if setupSects == 0 {
		setupSects = 4
	}
	off := (setupSects+1)*512 + int(binary.LittleEndian.Uint32(img[0x248:]))
	n := int(binary.LittleEndian.Uint32(img[0x24c:]))
	if off < 0 || n < 4 || off+n > len(img) {
		return nil, fmt.Errorf("payload [%d, +%d) outside the %d-byte image", off, n, len(img))
	}
	out, err := decompress(img[off : off+n])
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	if len(out) < 4 || string(out[:4]) != elf.ELFMAG {
		return nil, errors.New("payload is not an ELF image")
	}
	return out, nil
}

// decompress handles every compression the kernel's build offers for
// its image. The payload ends with the uncompressed size (4 bytes, little
// endian), which bounds the output.
func decompress(p []byte) ([]byte, error) {
	size := int(binary.LittleEndian.Uint32(p[len(p)-4:]))
	if size <= 0 || size > 1<<30 {
		return nil, fmt.Errorf("implausible uncompressed size %d", size)
	}
	var r io.Reader
	var err error
	switch {
	case bytes.HasPrefix(p, []byte{0x1f, 0x8b}):
		r, err = gzip.NewReader(bytes.NewReader(p))
	case bytes.HasPrefix(p, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		r, err = xz.NewReader(bytes.NewReader(p))
	case bytes.HasPrefix(p, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		var d *zstd.Decoder
		d, err = zstd.NewReader(bytes.NewReader(p), zstd.WithDecoderMaxMemory(2<<30))
		if err == nil {
			defer d.Close()
			r = d
		}
	case bytes.HasPrefix(p, []byte{'B', 'Z', 'h'}):
		r = bzip2.NewReader(bytes.NewReader(p))
	case bytes.HasPrefix(p, []byte{0x02, 0x21, 0x4c, 0x18}):
		return lz4Legacy(p[4:len(p)-4], size)
	default:
		return nil, fmt.Errorf("unknown compression (magic % x); use --kernel with an uncompressed vmlinux", p[:min(6, len(p))])
	}
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, size)
	buf := bytes.NewBuffer(out)
	if _, err := io.Copy(buf, io.LimitReader(r, int64(size)+1)); err != nil && buf.Len() < size {
		return nil, err
	}
	return buf.Bytes()[:min(buf.Len(), size)], nil
}

// lz4Legacy decodes LZ4's legacy frame (the kernel's lz4 format): after
// the magic, blocks of a 4-byte compressed length and the block, each
// decoding to at most 8 MiB.
func lz4Legacy(p []byte, size int) ([]byte, error) {
	out := make([]byte, 0, size)
	block := make([]byte, 8<<20)
	for len(p) >= 4 && len(out) < size {
		n := int(binary.LittleEndian.Uint32(p))
		p = p[4:]
		if n > len(p) {
			return nil, fmt.Errorf("lz4: block of %d bytes, %d left", n, len(p))
		}
		m, err := lz4.UncompressBlock(p[:n], block)
		if err != nil {
			return nil, fmt.Errorf("lz4: %w", err)
		}
		out = append(out, block[:m]...)
		p = p[n:]
	}
	if len(out) != size {
		return nil, fmt.Errorf("lz4: %d bytes decoded, the image says %d", len(out), size)
	}
	return out, nil
}

// HasPVHNote reports whether an ELF kernel declares a PVH entry point
// (XEN_ELFNOTE_PHYS32_ENTRY), which Cloud Hypervisor boots through.
func HasPVHNote(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	const xenElfnotePhys32Entry = 18
	for _, prog := range f.Progs {
		if prog.Type != elf.PT_NOTE {
			continue
		}
		data, err := io.ReadAll(prog.Open())
		if err != nil {
			return false, err
		}
		for len(data) >= 12 {
			namesz := int(binary.LittleEndian.Uint32(data))
			descsz := int(binary.LittleEndian.Uint32(data[4:]))
			typ := binary.LittleEndian.Uint32(data[8:])
			name := data[12:min(len(data), 12+namesz)]
			if typ == xenElfnotePhys32Entry && bytes.HasPrefix(name, []byte("Xen")) {
				return true, nil
			}
			adv := 12 + align4(namesz) + align4(descsz)
			if adv > len(data) {
				break
			}
			data = data[adv:]
		}
	}
	return false, nil
}

func align4(n int) int { return (n + 3) &^ 3 }
