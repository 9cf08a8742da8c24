package gguf_test

import (
	"testing"

	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/internal/manifest"
)

// TestReadLlamaCppFile reads a GGUF written by llama.cpp's own converter and checks every key
// and every tensor's bytes against the manifest made from it by the fixtures' Python tool.
func TestReadLlamaCppFile(t *testing.T) {
	f, err := gguf.Open("../testdata/ref/stories260k.f32.gguf")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want, err := manifest.Load("../testdata/ref/stories260k.f32.gguf.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := manifest.FromFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if got.DataOffset != want.DataOffset || got.NKV != want.NKV || got.NTensors != want.NTensors || got.FileSize != want.FileSize {
		t.Errorf("header: got offset %d, %d kvs, %d tensors, %d bytes; want %d, %d, %d, %d",
			got.DataOffset, got.NKV, got.NTensors, got.FileSize, want.DataOffset, want.NKV, want.NTensors, want.FileSize)
	}
	for _, d := range manifest.Diff(got, want, nil) {
		t.Error(d)
	}
	for i, tt := range want.Tensors {
		if f.Tensors[i].Offset != tt.Offset {
			t.Errorf("tensor %s: offset %d, want %d", tt.Name, f.Tensors[i].Offset, tt.Offset)
		}
	}
}
