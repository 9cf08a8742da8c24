package synth_test

import (
	"crypto/sha256"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ggufy/ggufy/archmap"
	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/internal/synth"
	"github.com/ggufy/ggufy/safetensors"
)

const tokenizerDir = "../../testdata/models/tiny-trained"

func small(seed uint64) synth.Config {
	return synth.Config{Layers: 3, Hidden: 256, FFN: 512, Heads: 4, KVHeads: 2, Vocab: 4608,
		ShardSize: 1 << 20, TokenizerDir: tokenizerDir, Seed: seed}
}

func dirSums(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string][32]byte{}
	for _, e := range ents {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			t.Fatal(err)
		}
		f.Close()
		var s [32]byte
		copy(s[:], h.Sum(nil))
		sums[e.Name()] = s
	}
	return sums
}

// TestGenerateIsACheckpoint checks the files are a sharded checkpoint archmap plans for
// (llama family, every tensor mapped, padded vocabulary), with sane weights.
func TestGenerateIsACheckpoint(t *testing.T) {
	dir := t.TempDir()
	res, err := synth.Generate(dir, small(1))
	if err != nil {
		t.Fatal(err)
	}
	if res.Layers != 3 || len(res.Shards) < 2 {
		t.Fatalf("layers %d, shards %v: want 3 layers over several shards", res.Layers, res.Shards)
	}
	var index struct {
		Metadata struct {
			TotalSize int64 `json:"total_size"`
		} `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "model.safetensors.index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &index); err != nil {
		t.Fatal(err)
	}
	if index.Metadata.TotalSize != res.Bytes || len(index.WeightMap) != 2+9*3+1 {
		t.Fatalf("index: total_size %d (want %d), %d tensors", index.Metadata.TotalSize, res.Bytes, len(index.WeightMap))
	}

	p, err := archmap.Open(dir, gguf.FileTypeMostlyF16, archmap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Arch != "llama" || p.Blocks != 3 || len(p.Tensors) != len(index.WeightMap) {
		t.Fatalf("plan: arch %q, %d blocks, %d tensors", p.Arch, p.Blocks, len(p.Tensors))
	}
	for _, tn := range p.Tensors {
		if tn.RowLen()%256 != 0 {
			t.Errorf("%s: row length %d is not a multiple of 256", tn.Name, tn.RowLen())
		}
	}

	// Weights: finite, centred, magnitudes of trained weights; norms near 1.
	ck, err := safetensors.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	for _, tn := range ck.Tensors {
		if tn.DType != safetensors.BF16 {
			t.Fatalf("%s: dtype %s", tn.Name, tn.DType)
		}
		v := make([]float32, tn.NumElements())
		if err := tn.Floats(v, 0); err != nil {
			t.Fatal(err)
		}
		var sum, abs float64
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				t.Fatalf("%s: non-finite value", tn.Name)
			}
			sum += float64(x)
			abs += math.Abs(float64(x))
		}
		mean, mabs := sum/float64(len(v)), abs/float64(len(v))
		if strings.HasSuffix(tn.Name, "norm.weight") {
			if mean < 1 || mean > 1.07 {
				t.Errorf("%s: norm mean %v", tn.Name, mean)
			}
		} else if math.Abs(mean) > 0.002 || mabs < 0.01 || mabs > 0.06 {
			t.Errorf("%s: mean %v, mean |x| %v", tn.Name, mean, mabs)
		}
	}
}

// TestGenerateDeterministic checks that the same config gives the same bytes and another seed
// other weights.
func TestGenerateDeterministic(t *testing.T) {
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	for _, g := range []struct {
		dir  string
		seed uint64
	}{{a, 1}, {b, 1}, {c, 2}} {
		if _, err := synth.Generate(g.dir, small(g.seed)); err != nil {
			t.Fatal(err)
		}
	}
	sa, sb, sc := dirSums(t, a), dirSums(t, b), dirSums(t, c)
	if len(sa) != len(sb) {
		t.Fatalf("%d and %d files", len(sa), len(sb))
	}
	for name, s := range sa {
		if sb[name] != s {
			t.Errorf("%s differs between two runs", name)
		}
		if filepath.Ext(name) == ".safetensors" && sc[name] == s {
			t.Errorf("%s is the same with another seed", name)
		}
	}
}

func TestSizeSetsLayers(t *testing.T) {
	c := small(1)
	c.Layers = 0
	c.Size = 40 << 20
	dir := t.TempDir()
	res, err := synth.Generate(dir, c)
	if err != nil {
		t.Fatal(err)
	}
	if res.Bytes < c.Size {
		t.Errorf("%d bytes, asked for at least %d", res.Bytes, c.Size)
	}
	c.Layers = res.Layers - 1
	c.Size = 0
	smaller, err := synth.Generate(t.TempDir(), c)
	if err != nil {
		t.Fatal(err)
	}
	if smaller.Bytes >= 40<<20 {
		t.Errorf("one layer fewer is still %d bytes: not the smallest model of the size", smaller.Bytes)
	}
}

func TestBadConfig(t *testing.T) {
	for _, c := range []synth.Config{
		{Layers: 1, Hidden: 200, TokenizerDir: tokenizerDir},
		{Layers: 1, FFN: 1000, TokenizerDir: tokenizerDir},
		{Layers: 1, Heads: 3, TokenizerDir: tokenizerDir},
		{Layers: 1, Hidden: 256, FFN: 256, Heads: 4, KVHeads: 2, Vocab: 64, TokenizerDir: t.TempDir()},
	} {
		if _, err := synth.Generate(t.TempDir(), c); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}
