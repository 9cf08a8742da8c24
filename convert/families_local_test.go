package convert

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	st "github.com/nlpodyssey/safetensors"

	"github.com/ggufy/ggufy/archmap"
	"github.com/ggufy/ggufy/internal/half"
	"github.com/ggufy/ggufy/internal/manifest"
)

// Local references. Each testdata/families-local/NAME/ holds a checkpoint.json (how to generate
// the checkpoint: generator, seed, dtype, shards, files to copy), the small files it copies
// (config.json: a real published config scaled down; tokenizer files) and the manifests
// NAME.TYPE.gguf.json of what llama.cpp's convert_hf_to_gguf.py (v0.5.0) wrote for that checkpoint
// at each outtype. The weights are not committed: localWriteCheckpoint regenerates them, byte for
// byte, from the seed, with the tensor names and shapes transformers saves for the family
// (localTensorLists, one function per generator).
//
// To remake the references (Debian python3-torch and python3-sentencepiece, /usr/bin/python3):
//
//	go test ./convert -run TestWriteLocalCheckpoints -args -local-out DIR
//	L=~/.cache/llama-oracle/llama.cpp; cd DIR
//	PYTHONPATH=$L/gguf-py:$L /usr/bin/python3 run_convert.py $L/convert_hf_to_gguf.py NAME \
//	    --outtype TYPE --outfile NAME.TYPE.gguf      # TYPE: f32, f16, bf16, q8_0
//	/usr/bin/python3 gguf_manifest.py NAME.TYPE.gguf  # writes NAME.TYPE.gguf.json
//
// (run_convert.py and gguf_manifest.py are the fixture tools; run the converter on DIR/NAME
// itself: the directory name becomes general.name.) Copy the manifests to
// testdata/families-local/NAME/.
//
// A checkpoint.json with "reference": "no-vocab" marks a family whose vocabulary the converter
// exports through transformers' AutoTokenizer, which this machine lacks: its manifests were made
// with testdata/families-local/_tools/run_convert_novocab.py (the same run with set_vocab
// skipped), and ggufy converts it with archmap.Options.NoVocab (testdata/families has the
// references with the vocabulary, made where transformers is installed).

var localOut = flag.String("local-out", "", "TestWriteLocalCheckpoints: write the families-local test checkpoints under this directory")

const localRoot = "../testdata/families-local"

// localTensorLists maps a checkpoint.json "generator" to the tensors transformers saves for a
// config of that family.
var localTensorLists = map[string]func(cfg map[string]any, spec *localSpec) ([]localTensor, error){
	"gemma": gemmaTensors,
	"phi3":  phi3Tensors,
	"gpt2":  gpt2Tensors,
}

// localSpec is a checkpoint.json.
type localSpec struct {
	Generator      string   `json:"generator"`
	RealModel      string   `json:"real_model"`
	Description    string   `json:"description"`
	Seed           uint64   `json:"seed"`
	DType          string   `json:"dtype"`
	Shards         int      `json:"shards"`
	VocabRows      int64    `json:"vocab_rows"`      // embedding rows when config.json has no vocab_size
	LMHead         bool     `json:"lm_head"`         // save an untied lm_head.weight
	TokenizerModel string   `json:"tokenizer_model"` // relative to the repository root; copied as tokenizer.model
	TokenizerNote  string   `json:"tokenizer_note"`
	Files          []string `json:"files"`     // copied from the spec's directory
	Reference      string   `json:"reference"` // "" (the converter's whole output) or "no-vocab"
	VocabNote      string   `json:"vocab_note"`

	// GPT-2 layouts.
	Prefix          string `json:"prefix"`            // "transformer." as GPT2LMHeadModel.save_pretrained writes, "" as openai-community/gpt2 stores
	AttnBiasBuffers bool   `json:"attn_bias_buffers"` // h.N.attn.bias causal-mask buffers, as old checkpoints carry
}

func localDirs(t *testing.T) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(localRoot, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "checkpoint.json")); err == nil {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no checkpoints in %s", localRoot)
	}
	return out
}

func loadLocalSpec(dir string) (*localSpec, error) {
	b, err := os.ReadFile(filepath.Join(dir, "checkpoint.json"))
	if err != nil {
		return nil, err
	}
	var s localSpec
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%s/checkpoint.json: %w", dir, err)
	}
	if _, ok := localTensorLists[s.Generator]; !ok {
		return nil, fmt.Errorf("%s/checkpoint.json: unknown generator %q", dir, s.Generator)
	}
	switch s.Reference {
	case "", "no-vocab":
	default:
		return nil, fmt.Errorf("%s/checkpoint.json: reference %q, want \"\" or \"no-vocab\"", dir, s.Reference)
	}
	if s.Shards < 1 {
		s.Shards = 1
	}
	return &s, nil
}

// localTensor is one tensor of a generated checkpoint.
type localTensor struct {
	name  string
	shape []int64
	norm  bool // an RMSNorm/LayerNorm weight: larger values (Gemma stores norms as offsets from 1)
}

// localRNG is splitmix64: a fixed, portable sequence for a seed.
type localRNG uint64

func (r *localRNG) next() uint64 {
	*r += 0x9e3779b97f4a7c15
	z := uint64(*r)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// value returns a roughly normal number (Irwin-Hall sum of four 12-bit uniforms) times 2^-shift.
// Only integer arithmetic and an exact power-of-two scaling are involved, so the values are the
// same on every platform.
func (r *localRNG) value(shift int) float32 {
	u := r.next()
	s := int64(u&0xfff) + int64(u>>12&0xfff) + int64(u>>24&0xfff) + int64(u>>36&0xfff) - 8190
	return float32(math.Ldexp(float64(s), -shift))
}

// localValues fills a tensor: weights (and biases) with standard deviation ~0.018 (like
// N(0, 0.02)), norm weights with ~0.6, so that Gemma's 1 + w spreads over [-1, 3].
func localValues(seed uint64, tt localTensor) []float32 {
	h := fnv.New64a()
	h.Write([]byte(tt.name))
	rng := localRNG(seed ^ h.Sum64())
	n := int64(1)
	for _, d := range tt.shape {
		n *= d
	}
	shift := 17
	if tt.norm {
		shift = 12
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = rng.value(shift)
	}
	return v
}

func localEncode(dtype string, v []float32) (st.DType, []byte, error) {
	switch dtype {
	case "F32":
		b := make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
		return st.F32, b, nil
	case "F16":
		b := make([]byte, 2*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint16(b[2*i:], half.F32ToF16(x))
		}
		return st.F16, b, nil
	case "BF16":
		b := make([]byte, 2*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint16(b[2*i:], half.F32ToBF16(x))
		}
		return st.BF16, b, nil
	}
	return 0, nil, fmt.Errorf("dtype %q (want F32, F16 or BF16)", dtype)
}

// localWriteCheckpoint generates the checkpoint described by specDir/checkpoint.json into out
// (created): the copied files, the tokenizer model and the safetensors shards (named and indexed
// as transformers does when it shards).
func localWriteCheckpoint(specDir, out string) error {
	spec, err := loadLocalSpec(specDir)
	if err != nil {
		return err
	}
	return writeLocalSpec(specDir, spec, out)
}

// writeLocalSpec writes the checkpoint of a loaded (possibly modified) spec.
func writeLocalSpec(specDir string, spec *localSpec, out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, f := range spec.Files {
		b, err := os.ReadFile(filepath.Join(specDir, f))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, f), b, 0o644); err != nil {
			return err
		}
	}
	if spec.TokenizerModel != "" {
		tok, err := os.ReadFile(filepath.Join("..", spec.TokenizerModel))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, "tokenizer.model"), tok, 0o644); err != nil {
			return err
		}
	}
	cfgBytes, err := os.ReadFile(filepath.Join(specDir, "config.json"))
	if err != nil {
		return err
	}
	var cfg map[string]any
	if err := json.Unmarshal(cfgBytes, &cfg); err != nil {
		return fmt.Errorf("%s/config.json: %w", specDir, err)
	}
	list, ok := localTensorLists[spec.Generator]
	if !ok {
		return fmt.Errorf("%s: unknown generator %q", specDir, spec.Generator)
	}
	ts, err := list(cfg, spec)
	if err != nil {
		return fmt.Errorf("%s: %w", specDir, err)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].name < ts[j].name })
	type encoded struct {
		name string
		view st.TensorView
		size int64
	}
	var all []encoded
	var total int64
	for _, tt := range ts {
		dt, b, err := localEncode(spec.DType, localValues(spec.Seed, tt))
		if err != nil {
			return err
		}
		shape := make([]uint64, len(tt.shape))
		for i, d := range tt.shape {
			shape[i] = uint64(d)
		}
		v, err := st.NewTensorView(dt, shape, b)
		if err != nil {
			return fmt.Errorf("%s: %w", tt.name, err)
		}
		all = append(all, encoded{tt.name, v, int64(len(b))})
		total += int64(len(b))
	}
	// Shards: consecutive runs of the sorted names of about equal size.
	shards := make([]map[string]st.TensorView, spec.Shards)
	weightMap := map[string]string{}
	var acc int64
	for _, e := range all {
		i := min(int(acc*int64(spec.Shards)/max(total, 1)), spec.Shards-1)
		if shards[i] == nil {
			shards[i] = map[string]st.TensorView{}
		}
		shards[i][e.name] = e.view
		acc += e.size
		weightMap[e.name] = localShardName(i, spec.Shards)
	}
	for i, m := range shards {
		if m == nil {
			return fmt.Errorf("%s: shard %d of %d is empty", specDir, i+1, spec.Shards)
		}
		b, err := st.Serialize(m, map[string]string{"format": "pt"})
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, localShardName(i, spec.Shards)), b, 0o644); err != nil {
			return err
		}
	}
	if spec.Shards > 1 {
		idx, err := json.MarshalIndent(map[string]any{"metadata": map[string]any{"total_size": total}, "weight_map": weightMap}, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, "model.safetensors.index.json"), append(idx, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func localShardName(i, n int) string {
	if n == 1 {
		return "model.safetensors"
	}
	return fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, n)
}

// localDirDigest hashes every file of a directory (names and contents).
func localDirDigest(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "%s %d\n", e.Name(), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestWriteLocalCheckpoints writes the checkpoints under -local-out (to run llama.cpp's converter
// on them); without the flag it checks that generation is deterministic.
func TestWriteLocalCheckpoints(t *testing.T) {
	for _, d := range localDirs(t) {
		name := filepath.Base(d)
		t.Run(name, func(t *testing.T) {
			if *localOut != "" {
				out := filepath.Join(*localOut, name)
				if err := localWriteCheckpoint(d, out); err != nil {
					t.Fatal(err)
				}
				t.Logf("wrote %s", out)
				return
			}
			a, b := filepath.Join(t.TempDir(), name), filepath.Join(t.TempDir(), name)
			for _, o := range []string{a, b} {
				if err := localWriteCheckpoint(d, o); err != nil {
					t.Fatal(err)
				}
			}
			if da, db := localDirDigest(t, a), localDirDigest(t, b); da != db {
				t.Fatalf("two generations differ: %s vs %s", da, db)
			}
		})
	}
}

// compareLocal converts the checkpoint ckpt at outtype (without vocabulary if noVocab) and
// requires the tensors and metadata of the manifest at ref, and then its bytes (general.*
// provenance keys are reported, not required).
func compareLocal(t *testing.T, ckpt, ref, outtype string, noVocab bool) {
	t.Helper()
	out, got, want := convertAndDiff(t, ckpt, ref, outtype, filepath.Base(ckpt)+"."+outtype+".gguf", archmap.Options{NoVocab: noVocab})
	if len(got.Tensors) != len(want.Tensors) {
		t.Errorf("%d tensors, llama.cpp wrote %d", len(got.Tensors), len(want.Tensors))
	}
	// With the provenance keys equal too, the file must be llama.cpp's, byte for byte.
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if hex.EncodeToString(sum[:]) != want.FileSHA256 {
		if len(manifest.Diff(got, want, nil)) == 0 {
			t.Errorf("file sha256 %x, llama.cpp's %s, though every key and tensor matches", sum, want.FileSHA256)
		} else {
			t.Logf("file sha256 %x, llama.cpp's %s (provenance keys differ)", sum, want.FileSHA256)
		}
	}
}

// TestLocalMatchesLlamaCpp converts each generated checkpoint at every outtype llama.cpp's
// converter was run with and requires the same tensors and metadata.
func TestLocalMatchesLlamaCpp(t *testing.T) {
	for _, d := range localDirs(t) {
		name := filepath.Base(d)
		t.Run(name, func(t *testing.T) {
			spec, err := loadLocalSpec(d)
			if err != nil {
				t.Fatal(err)
			}
			refs, _ := filepath.Glob(filepath.Join(d, name+".*.gguf.json"))
			if len(refs) == 0 {
				t.Fatalf("no reference manifests in %s", d)
			}
			ckpt := filepath.Join(t.TempDir(), name)
			if err := writeLocalSpec(d, spec, ckpt); err != nil {
				t.Fatal(err)
			}
			for _, ref := range refs {
				outtype := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(ref), name+"."), ".gguf.json")
				t.Run(outtype, func(t *testing.T) {
					compareLocal(t, ckpt, ref, outtype, spec.Reference == "no-vocab")
				})
			}
		})
	}
}
