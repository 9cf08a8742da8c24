package convert

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ggufy/ggufy/archmap"
	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/quantize"
)

// TestVariantsInOnePassMatchSeparateRuns writes several variants in one WriteOutputs pass (as
// ggufy convert -q does), where many tensors get the same type in two variants and one variant
// is asked for twice, and requires each file to be the one QuantizeInput writes on its own.
func TestVariantsInOnePassMatchSeparateRuns(t *testing.T) {
	const model = "../testdata/models/tiny-trained"
	dir := t.TempDir()
	fts := []gguf.FileType{gguf.FileTypeMostlyQ4_K_M, gguf.FileTypeMostlyQ5_K_M, gguf.FileTypeMostlyQ8_0,
		gguf.FileTypeMostlyQ6_K, gguf.FileTypeMostlyQ4_K_M}
	open := func() *archmap.Converter {
		p, err := archmap.Open(model, gguf.FileTypeMostlyF16, archmap.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	p := open()
	in := PlanInput(p)
	var outs []Output
	shared := 0
	for i, ft := range fts {
		qp, err := PlanQuantize(in, QuantizeOptions{Params: quantize.DefaultParams(ft)})
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, Output{Path: filepath.Join(dir, "one-pass-"+string(rune('a'+i))+".gguf"), Meta: qp.Meta, Sources: qp.Sources})
	}
	for k := range outs {
		for ti := range outs[k].Sources {
			if sameEncoding(outs, k, ti) >= 0 {
				shared++
			}
		}
	}
	if shared == 0 {
		t.Fatal("no tensor is encoded the same way in two variants: the test does not exercise sharing")
	}
	if _, err := WriteOutputs(context.Background(), outs, Options{Threads: 3}); err != nil {
		t.Fatal(err)
	}
	p.Close()

	for i, ft := range fts {
		p := open()
		want := filepath.Join(dir, "alone.gguf")
		if _, err := QuantizeInput(context.Background(), PlanInput(p), want, QuantizeOptions{Params: quantize.DefaultParams(ft)}); err != nil {
			t.Fatal(err)
		}
		p.Close()
		a, err := os.ReadFile(outs[i].Path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(want)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("variant %d (%v): the one-pass file differs from quantizing alone", i, ft)
		}
	}
}

func TestSameEncoding(t *testing.T) {
	im := []float32{1, 2}
	src := func(typ gguf.Type, raw bool, imatrix []float32) *Source {
		s := &Source{Info: gguf.TensorInfo{Name: "w", Dims: []uint64{2, 1}, Type: typ}, Imatrix: imatrix}
		if raw {
			s.RawRows = func(int, int) ([]byte, error) { return nil, nil }
		}
		return s
	}
	outs := func(ss ...*Source) []Output {
		var o []Output
		for _, s := range ss {
			o = append(o, Output{Sources: []*Source{s}})
		}
		return o
	}
	for _, c := range []struct {
		name string
		outs []Output
		want int
	}{
		{"same type", outs(src(gguf.TypeQ6_K, false, nil), src(gguf.TypeQ6_K, false, nil)), 0},
		{"other type", outs(src(gguf.TypeQ4_K, false, nil), src(gguf.TypeQ5_K, false, nil)), -1},
		{"earlier one copied raw", outs(src(gguf.TypeF32, true, nil), src(gguf.TypeF32, false, nil)), -1},
		{"same imatrix", outs(src(gguf.TypeQ4_K, false, im), src(gguf.TypeQ4_K, false, im)), 0},
		{"equal but distinct imatrix", outs(src(gguf.TypeQ4_K, false, im), src(gguf.TypeQ4_K, false, []float32{1, 2})), -1},
		{"imatrix on one only", outs(src(gguf.TypeQ4_K, false, nil), src(gguf.TypeQ4_K, false, im)), -1},
		{"second match", outs(src(gguf.TypeQ4_K, false, nil), src(gguf.TypeQ6_K, false, nil), src(gguf.TypeQ6_K, false, nil)), 1},
	} {
		if got := sameEncoding(c.outs, len(c.outs)-1, 0); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}
