//go:build llamacpp

package convert

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ggufy/ggufy/archmap"
	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/internal/llamacpp"
	"github.com/ggufy/ggufy/quantize"
)

// allFileTypes are the file types llama-quantize offers that ggufy must reproduce.
var allFileTypes = []string{"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q2_K_S", "Q3_K_S", "Q3_K_M", "Q3_K_L",
	"Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "IQ4_NL", "IQ4_XS", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M",
	"IQ3_XXS", "IQ3_XS", "IQ3_S", "IQ3_M", "IQ1_S", "IQ1_M", "TQ1_0", "TQ2_0", "MXFP4_MOE", "F16", "BF16", "F32"}

// syntheticImatrix writes an imatrix file covering every 2-D+ weight of the model, with
// positive random sums, as llama-imatrix would lay it out.
func syntheticImatrix(t *testing.T, model, path string) {
	t.Helper()
	m, err := gguf.OpenModel(model)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	im := &quantize.Imatrix{Entries: map[string]quantize.ImatrixEntry{}, Datasets: []string{"synthetic.txt"}, ChunkCount: 10, ChunkSize: 512}
	for _, ti := range m.Tensors {
		if len(ti.Dims) < 2 || !strings.HasSuffix(ti.Name, ".weight") || strings.Contains(ti.Name, "_norm") {
			continue
		}
		nmat := 1
		if len(ti.Dims) > 2 {
			nmat = int(ti.Dims[2])
		}
		e := quantize.ImatrixEntry{Sums: make([]float32, int(ti.Dims[0])*nmat), Counts: make([]int64, nmat)}
		for i := range e.Sums {
			e.Sums[i] = float32(rng.ExpFloat64() * 100)
		}
		for i := range e.Counts {
			e.Counts[i] = 5120
		}
		im.Entries[ti.Name] = e
	}
	var buf bytes.Buffer
	if err := quantize.WriteImatrix(&buf, im); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func fileSHA(t *testing.T, path string) [32]byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// diffTensors names the tensors whose type or bytes differ between two GGUF files.
func diffTensors(t *testing.T, a, b string) string {
	fa, err := gguf.Open(a)
	if err != nil {
		return err.Error()
	}
	defer fa.Close()
	fb, err := gguf.Open(b)
	if err != nil {
		return err.Error()
	}
	defer fb.Close()
	var out []string
	if fa.Meta.Len() != fb.Meta.Len() {
		out = append(out, fmt.Sprintf("%d vs %d keys", fa.Meta.Len(), fb.Meta.Len()))
	}
	for i, ta := range fa.Tensors {
		j := fb.Tensor(ta.Name)
		if j < 0 {
			out = append(out, ta.Name+" missing in llama.cpp's")
			continue
		}
		tb := fb.Tensors[j]
		if i != j {
			out = append(out, fmt.Sprintf("%s at %d vs %d", ta.Name, i, j))
		}
		if ta.Type != tb.Type {
			out = append(out, fmt.Sprintf("%s: %s vs %s", ta.Name, ta.Type, tb.Type))
			continue
		}
		da, _ := fa.TensorData(i)
		db, _ := fb.TensorData(j)
		if !bytes.Equal(da, db) {
			out = append(out, ta.Name+": bytes differ ("+ta.Type.String()+")")
		}
	}
	if len(out) > 8 {
		out = append(out[:8], fmt.Sprintf("... %d more", len(out)-8))
	}
	return strings.Join(out, "; ")
}

// representativeFileTypes cover each kind of rule (legacy, k-quant mixes, i-quants with and
// without an imatrix) for the models that do not get every type, to keep CI time bounded.
var representativeFileTypes = []string{"Q4_0", "Q8_0", "Q2_K", "Q3_K_M", "Q4_K_M", "Q6_K", "IQ4_XS", "IQ2_XS", "IQ3_M", "F16"}

// TestQuantizeMatchesLlamaQuantize quantizes test models with ggufy and with
// llama_model_quantize (the real llama.cpp) and requires identical files: every file type on the
// two fixture models (one with row lengths that force llama.cpp's fallbacks), a representative
// set on the others.
func TestQuantizeMatchesLlamaQuantize(t *testing.T) {
	dir := t.TempDir()
	inputs := map[string]string{"stories260k.f32": "../testdata/ref/stories260k.f32.gguf"}
	for _, m := range []struct{ name, ft string }{{"tiny-trained", "f16"}, {"qwen2-rand", "bf16"}, {"mistral-rand", "f16"}} {
		ft, _ := ParseOutType(m.ft)
		out := filepath.Join(dir, m.name+"."+m.ft+".gguf")
		if _, err := File(context.Background(), filepath.Join("../testdata/models", m.name), out, ft, archmap.Options{}, Options{}); err != nil {
			t.Fatal(err)
		}
		inputs[m.name+"."+m.ft] = out
	}
	names := make([]string, 0, len(inputs))
	for n := range inputs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		in := inputs[name]
		imPath := filepath.Join(dir, name+".imatrix.gguf")
		syntheticImatrix(t, in, imPath)
		im, err := quantize.ReadImatrix(imPath)
		if err != nil {
			t.Fatal(err)
		}
		types := allFileTypes
		if !strings.HasPrefix(name, "stories260k") && !strings.HasPrefix(name, "tiny-trained") {
			types = representativeFileTypes
		}
		for _, typ := range types {
			for _, withIm := range []bool{false, true} {
				label := name + "/" + typ
				if withIm {
					label += "+imatrix"
				}
				t.Run(label, func(t *testing.T) {
					ft, err := quantize.ParseFileType(typ)
					if err != nil {
						t.Fatal(err)
					}
					ref := filepath.Join(dir, "ref.gguf")
					ours := filepath.Join(dir, "ours.gguf")
					os.Remove(ref)
					os.Remove(ours)
					lopts := llamacpp.QuantizeOptions{FType: typ, Threads: 2}
					qopts := QuantizeOptions{Params: quantize.DefaultParams(ft)}
					if withIm {
						lopts.ImatrixFile = imPath
						qopts.Imatrix, qopts.ImatrixPath = im, imPath
					}
					refErr := llamacpp.ModelQuantize(in, ref, lopts)
					_, ourErr := QuantizeFile(context.Background(), in, ours, qopts)
					switch {
					case refErr != nil && ourErr != nil:
						t.Logf("both refuse: llama.cpp: %v; ggufy: %v", firstLine(refErr), ourErr)
						return
					case refErr != nil:
						t.Fatalf("llama.cpp refuses (%v) but ggufy wrote a file", firstLine(refErr))
					case ourErr != nil:
						t.Fatalf("ggufy: %v (llama.cpp succeeds)", ourErr)
					}
					if fileSHA(t, ours) != fileSHA(t, ref) {
						t.Errorf("files differ: %s", diffTensors(t, ours, ref))
					}
				})
			}
		}
	}
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
