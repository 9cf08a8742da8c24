package mmap

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// rssFile returns the process's resident file-backed memory (linux), or -1.
func rssFile(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	return -1
}

func TestReleaseKeepsDataDropsPages(t *testing.T) {
	const size = 32<<20 + 12345
	want := make([]byte, size)
	for i := range want {
		want[i] = byte(i*7 + i>>13)
	}
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !bytes.Equal(m.Data(), want) {
		t.Fatal("mapped bytes differ")
	}
	before := rssFile(t)
	// Unaligned pieces, as a streaming reader releases them; the last one ends the file.
	for off := 1000; off < size; off += 3 << 20 {
		end := min(size, off+3<<20)
		m.Release(m.Data()[off:end])
	}
	after := rssFile(t)
	if runtime.GOOS == "linux" && before >= 0 && before-after < 24<<20 {
		t.Errorf("resident file pages %d -> %d bytes: the released range stayed resident", before, after)
	}
	if !bytes.Equal(m.Data(), want) {
		t.Fatal("bytes changed after Release")
	}
}

func TestReleaseIgnoresForeignSlices(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, bytes.Repeat([]byte{1}, 1<<16), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// Heap memory: MADV_DONTNEED would zero it, so Release must leave it alone.
	heap := bytes.Repeat([]byte{9}, 1<<20)
	m.Release(heap)
	m.Release(heap[4096:])
	if bytes.Count(heap, []byte{9}) != len(heap) {
		t.Fatal("Release changed memory outside the map")
	}
	m.Release(nil)
	m.Release(m.Data()[:0])
	var fallback Map
	fallback.data = heap
	fallback.Release(heap) // a file read into memory: no unmap, nothing to do
	if bytes.Count(heap, []byte{9}) != len(heap) {
		t.Fatal("Release changed a read-into-memory file")
	}
}
