//go:build llamacpp

package gguf_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/internal/llamacpp"
)

// rewrite reads a GGUF made by llama.cpp and writes its metadata and tensors back with this
// package, as one file or as shards.
func rewrite(t *testing.T, src, dst string, split gguf.SplitOptions) []string {
	t.Helper()
	f, err := gguf.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fw, err := gguf.Create(dst, f.Meta, f.Tensors, split)
	if err != nil {
		t.Fatal(err)
	}
	for i := range f.Tensors {
		d, err := f.TensorData(i)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fw.Write(d); err != nil {
			t.Fatal(err)
		}
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	return fw.Paths()
}

func perplexity(t *testing.T, path string, text string) float64 {
	t.Helper()
	m, err := llamacpp.LoadModel(path, llamacpp.ModelOptions{})
	if err != nil {
		t.Fatalf("llama.cpp cannot load %s: %v", path, err)
	}
	defer m.Close()
	r, err := m.Perplexity(text, llamacpp.PPLOptions{NCtx: 128, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	return r.PPL
}

// TestWrittenFilesLoadInLlamaCpp rewrites a llama.cpp-made GGUF with the gguf package, as one
// file and as three shards, and requires that llama.cpp loads both and computes the same
// perplexity as on the original.
func TestWrittenFilesLoadInLlamaCpp(t *testing.T) {
	text, err := os.ReadFile("../testdata/text/stories260k-eval.txt")
	if err != nil {
		t.Fatal(err)
	}
	src := "../testdata/ref/stories260k.f32.gguf"
	want := perplexity(t, src, string(text))
	dir := t.TempDir()

	one := rewrite(t, src, filepath.Join(dir, "one.gguf"), gguf.SplitOptions{})
	a, _ := os.ReadFile(src)
	b, _ := os.ReadFile(one[0])
	if !bytes.Equal(a, b) {
		t.Error("rewriting llama.cpp's file does not reproduce it byte for byte")
	}
	if got := perplexity(t, one[0], string(text)); got != want {
		t.Errorf("rewritten file: ppl %v, original %v", got, want)
	}

	shards := rewrite(t, src, filepath.Join(dir, "split.gguf"), gguf.SplitOptions{MaxTensors: 16})
	if len(shards) != 3 {
		t.Fatalf("%d shards, want 3", len(shards))
	}
	if got := perplexity(t, shards[0], string(text)); got != want {
		t.Errorf("3 shards: ppl %v, original %v", got, want)
	}
}
