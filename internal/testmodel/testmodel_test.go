package testmodel

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
)

const familiesDir = "../../testdata/families"

// TestGeneratorMatchesNumpy checks the Go generator against tools/devref/gen.py's golden sha256s.
func TestGeneratorMatchesNumpy(t *testing.T) {
	var g struct {
		Cases []struct {
			Name     string    `json:"name"`
			N        int       `json:"n"`
			Kind     string    `json:"kind"`
			Dtype    string    `json:"dtype"`
			SHA256   string    `json:"sha256"`
			FirstF64 []float64 `json:"first_f64"`
		} `json:"cases"`
	}
	if err := readJSON(filepath.Join(familiesDir, "generator_golden.json"), &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) == 0 {
		t.Fatal("no golden cases")
	}
	for _, c := range g.Cases {
		b, err := TensorBytes(c.Name, c.N, c.Dtype, c.Kind)
		if err != nil {
			t.Fatalf("%s %s %s: %v", c.Name, c.Kind, c.Dtype, err)
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != c.SHA256 {
			t.Errorf("%s n=%d %s %s: sha256 differs from numpy", c.Name, c.N, c.Kind, c.Dtype)
		}
		s, err := newStream(c.Name, c.Kind)
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range c.FirstF64 {
			if got := s.next(); math.Float64bits(got) != math.Float64bits(want) {
				t.Errorf("%s %s value %d: %v, numpy %v", c.Name, c.Kind, i, got, want)
			}
		}
	}
}

func TestGeneratorRanges(t *testing.T) {
	for _, tc := range []struct {
		kind   string
		lo, hi float64
	}{{KindWeight, -0.0347, 0.0347}, {KindNorm, 0.9, 1.1}, {KindNorm0, -0.1, 0.1}} {
		b, err := TensorBytes("range", 4096, "F32", tc.kind)
		if err != nil {
			t.Fatal(err)
		}
		var sum, sq float64
		for i := 0; i < 4096; i++ {
			v := float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
			if v < tc.lo || v > tc.hi {
				t.Fatalf("%s: value %v outside [%v, %v]", tc.kind, v, tc.lo, tc.hi)
			}
			sum += v
			sq += v * v
		}
		if tc.kind == KindWeight {
			std := math.Sqrt(sq/4096 - (sum/4096)*(sum/4096))
			if std < 0.019 || std > 0.021 {
				t.Errorf("weight std %v, want ~0.02", std)
			}
		}
	}
	if _, err := TensorBytes("x", 1, "I64", KindWeight); err == nil {
		t.Error("I64 accepted")
	}
	if _, err := TensorBytes("x", 1, "F32", "nope"); err == nil {
		t.Error("unknown kind accepted")
	}
}

// TestWeightsMatchDevice rebuilds every family's safetensors files and checks each tensor's and
// each file's sha256 against weights.json, recorded from the files transformers saved.
func TestWeightsMatchDevice(t *testing.T) {
	vs, err := Variants(familiesDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) < 16 {
		t.Fatalf("%d families, want 16: %v", len(vs), vs)
	}
	for _, v := range vs {
		t.Run(v, func(t *testing.T) {
			dir := filepath.Join(familiesDir, v)
			fam, w, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if fam.Variant != v || w.Variant != v || w.Dtype != fam.Dtype {
				t.Fatalf("family.json/weights.json disagree: %q %q %q %q", fam.Variant, w.Variant, w.Dtype, fam.Dtype)
			}
			out := filepath.Join(t.TempDir(), v)
			if err := WriteWeights(dir, out); err != nil {
				t.Fatal(err)
			}
			for _, s := range w.Files {
				checkShard(t, filepath.Join(out, s.Name), s)
			}
		})
	}
}

// checkShard re-reads a written file: header as recorded, every tensor's bytes hash as recorded.
func checkShard(t *testing.T, path string, s Shard) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != s.Size {
		t.Fatalf("%s: %d bytes, want %d", s.Name, len(b), s.Size)
	}
	n := binary.LittleEndian.Uint64(b)
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &hdr); err != nil {
		t.Fatalf("%s: header: %v", s.Name, err)
	}
	if len(hdr) != len(s.Tensors)+1 { // + __metadata__
		t.Errorf("%s: header has %d entries, want %d", s.Name, len(hdr), len(s.Tensors)+1)
	}
	base := 8 + int64(n)
	for _, ts := range s.Tensors {
		data := b[base+ts.DataOffsets[0] : base+ts.DataOffsets[1]]
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != ts.SHA256 {
			t.Errorf("%s: tensor %q sha256 differs", s.Name, ts.Name)
		}
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != s.SHA256 {
		t.Errorf("%s: file sha256 differs from the file transformers saved", s.Name)
	}
}

// TestMaterialize builds every complete checkpoint (weights, config, tokenizer files) when the
// tokenizer cache of scripts/testmodels.sh is installed.
func TestMaterialize(t *testing.T) {
	vs, err := Variants(familiesDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(CacheDir(familiesDir)); err != nil {
		t.Skipf("tokenizer cache %s not installed: run scripts/testmodels.sh", CacheDir(familiesDir))
	}
	for _, v := range vs {
		t.Run(v, func(t *testing.T) {
			dir := filepath.Join(familiesDir, v)
			out := filepath.Join(t.TempDir(), v)
			if err := Materialize(dir, out); err != nil {
				t.Fatal(err)
			}
			fam, w, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range fam.Files {
				if _, err := os.Stat(filepath.Join(out, f.Name)); err != nil {
					t.Error(err)
				}
			}
			if len(w.Files) > 1 {
				var idx struct {
					WeightMap map[string]string `json:"weight_map"`
				}
				if err := readJSON(filepath.Join(out, "model.safetensors.index.json"), &idx); err != nil {
					t.Fatal(err)
				}
				for _, s := range w.Files {
					for _, ts := range s.Tensors {
						if idx.WeightMap[ts.Name] != s.Name {
							t.Errorf("index maps %q to %q, want %q", ts.Name, idx.WeightMap[ts.Name], s.Name)
						}
					}
				}
			}
		})
	}
}

func TestMaterializeChecksSources(t *testing.T) {
	src := t.TempDir()
	fam := Family{Variant: "x", Dtype: "F32", Files: []File{{Name: "a.json", Source: "testdata", SHA256: "00"}}}
	w := Weights{Variant: "x", Dtype: "F32"}
	writeJSONFile(t, filepath.Join(src, "family.json"), fam)
	writeJSONFile(t, filepath.Join(src, "weights.json"), w)
	if err := os.WriteFile(filepath.Join(src, "a.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Materialize(src, t.TempDir()); !errors.Is(err, ErrMismatch) {
		t.Errorf("tampered file: %v, want ErrMismatch", err)
	}
	fam.Files = []File{{Name: "tokenizer.json", Source: "testmodels:nope/tokenizer.json"}}
	writeJSONFile(t, filepath.Join(src, "family.json"), fam)
	t.Setenv("GGUFY_TESTMODELS", t.TempDir())
	if err := Materialize(src, t.TempDir()); !errors.Is(err, ErrNoCache) {
		t.Errorf("missing cache file: %v, want ErrNoCache", err)
	}
	fam.Files = []File{{Name: "../evil", Source: "testdata"}}
	writeJSONFile(t, filepath.Join(src, "family.json"), fam)
	if err := Materialize(src, t.TempDir()); err == nil {
		t.Error("path in file name accepted")
	}
}

func writeJSONFile(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
