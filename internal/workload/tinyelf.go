package workload

import (
	"encoding/binary"
	"fmt"
	"runtime"
)

// tinyELF returns a minimal static executable for this architecture that
// calls exit(0) and does nothing else (one PT_LOAD segment, no sections):
// the smallest program a sandbox can spawn, so spawn measures the kernel's
// (or gVisor's) fork/exec/wait path rather than a program's start-up.
func tinyELF() ([]byte, error) {
	var machine uint16
	var code []byte
	switch runtime.GOARCH {
	case "amd64":
		machine = 62 // EM_X86_64
		code = []byte{
			0x31, 0xff, // xor edi, edi
			0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60 (exit)
			0x0f, 0x05, // syscall
		}
	case "arm64":
		machine = 183 // EM_AARCH64
		code = []byte{
			0x00, 0x00, 0x80, 0xd2, // mov x0, #0
			0xa8, 0x0b, 0x80, 0xd2, // mov x8, #93 (exit)
			0x01, 0x00, 0x00, 0xd4, // svc #0
		}
	default:
		return nil, fmt.Errorf("spawn: no tiny program for %s", runtime.GOARCH)
	}
	const (
		base    = 0x400000
		ehSize  = 64
		phSize  = 56
		codeOff = ehSize + phSize
	)
	size := uint64(codeOff + len(code))
	b := make([]byte, 0, size)
	le := binary.LittleEndian
	b = append(b, 0x7f, 'E', 'L', 'F', 2 /* 64-bit */, 1 /* little endian */, 1 /* version */, 0 /* SysV ABI */)
	b = append(b, make([]byte, 8)...)
	b = le.AppendUint16(b, 2) // ET_EXEC
	b = le.AppendUint16(b, machine)
	b = le.AppendUint32(b, 1)            // EV_CURRENT
	b = le.AppendUint64(b, base+codeOff) // entry point
	b = le.AppendUint64(b, ehSize)       // program headers right after this header
	b = le.AppendUint64(b, 0)            // no section headers
	b = le.AppendUint32(b, 0)            // flags
	b = le.AppendUint16(b, ehSize)       // header size
	b = le.AppendUint16(b, phSize)       // program header size
	b = le.AppendUint16(b, 1)            // one program header
	b = le.AppendUint16(b, 64)           // section header size (unused)
	b = le.AppendUint16(b, 0)            // no sections
	b = le.AppendUint16(b, 0)            // no section names
	b = le.AppendUint32(b, 1)            // PT_LOAD
	b = le.AppendUint32(b, 5)            // PF_R | PF_X
	b = le.AppendUint64(b, 0)            // file offset
	b = le.AppendUint64(b, base)         // virtual address
	b = le.AppendUint64(b, base)         // physical address
	b = le.AppendUint64(b, size)         // size in file
	b = le.AppendUint64(b, size)         // size in memory
	b = le.AppendUint64(b, 0x1000)       // alignment
	return append(b, code...), nil
}
