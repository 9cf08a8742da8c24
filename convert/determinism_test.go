package convert

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ggufy/ggufy/archmap"
	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/quantize"
)

// TestThreadCountDoesNotChangeOutput quantizes with 1, 2 and 7 encoding goroutines: the files
// must be identical.
func TestThreadCountDoesNotChangeOutput(t *testing.T) {
	dir := t.TempDir()
	var first []byte
	for _, threads := range []int{1, 2, 7} {
		p, err := archmap.Open("../testdata/models/tiny-trained", gguf.FileTypeGuessed, archmap.Options{})
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "q.gguf")
		opts := QuantizeOptions{Params: quantize.DefaultParams(gguf.FileTypeMostlyQ4_K_M), Options: Options{Threads: threads}}
		if _, err := QuantizeInput(context.Background(), PlanInput(p), out, opts); err != nil {
			t.Fatal(err)
		}
		p.Close()
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = b
		} else if !bytes.Equal(first, b) {
			t.Errorf("%d threads: output differs from 1 thread", threads)
		}
	}
}

// TestCancelLeavesNoOutput cancels a conversion midway: no file, partial or final, may remain.
func TestCancelLeavesNoOutput(t *testing.T) {
	dir := t.TempDir()
	p, err := archmap.Open("../testdata/models/tiny-trained", gguf.FileTypeAllF32, archmap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	srcs := Sources(p)
	// Cancel once some data has been written.
	opts := Options{Threads: 2, Progress: func(done, total int64) {
		if done > total/3 {
			cancel()
		}
	}}
	_, err = Write(ctx, filepath.Join(dir, "m.gguf"), p.Meta, srcs, opts)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
}
