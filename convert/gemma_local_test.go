package convert

import (
	"bytes"
	"context"
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
	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/internal/half"
	"github.com/ggufy/ggufy/internal/manifest"
)

// Local references for the Gemma families. Each testdata/families-local/gemma*/ holds a
// checkpoint.json (how to generate the checkpoint: seed, dtype, shards, files to copy), the
// small files it copies (config.json, tokenizer_config.json) and the manifests of what llama.cpp's
// convert_hf_to_gguf.py (v0.5.0) wrote for that checkpoint at each outtype. The weights are not
// committed: gemmaWriteCheckpoint regenerates them, byte for byte, from the seed.
//
// To remake the references (Debian python3-torch and python3-sentencepiece, /usr/bin/python3):
//
//	go test ./convert -run TestWriteGemmaCheckpoints -args -gemma-out DIR
//	L=~/.cache/llama-oracle/llama.cpp; cd DIR
//	PYTHONPATH=$L/gguf-py:$L /usr/bin/python3 run_convert.py $L/convert_hf_to_gguf.py NAME \
//	    --outtype TYPE --outfile NAME.TYPE.gguf      # TYPE: f32, f16, bf16, q8_0
//	/usr/bin/python3 gguf_manifest.py NAME.TYPE.gguf  # writes NAME.TYPE.gguf.json
//
// (run_convert.py and gguf_manifest.py are the fixture tools; run the converter on DIR/NAME
// itself: the directory name becomes general.name.) Copy the manifests to
// testdata/families-local/NAME/.

var gemmaOut = flag.String("gemma-out", "", "TestWriteGemmaCheckpoints: write the Gemma test checkpoints under this directory")

const gemmaLocalRoot = "../testdata/families-local"

// gemmaSpec is a checkpoint.json.
type gemmaSpec struct {
	Generator      string   `json:"generator"`
	RealModel      string   `json:"real_model"`
	Description    string   `json:"description"`
	Seed           uint64   `json:"seed"`
	DType          string   `json:"dtype"`
	Shards         int      `json:"shards"`
	VocabRows      int64    `json:"vocab_rows"`      // embedding rows when config.json has no vocab_size
	LMHead         bool     `json:"lm_head"`         // save an untied lm_head.weight
	TokenizerModel string   `json:"tokenizer_model"` // relative to the repository root
	TokenizerNote  string   `json:"tokenizer_note"`
	Files          []string `json:"files"` // copied from the spec's directory
}

func gemmaLocalDirs(t *testing.T) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(gemmaLocalRoot, "gemma*"))
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
		t.Fatalf("no Gemma checkpoints in %s", gemmaLocalRoot)
	}
	return out
}

func loadGemmaSpec(dir string) (*gemmaSpec, error) {
	b, err := os.ReadFile(filepath.Join(dir, "checkpoint.json"))
	if err != nil {
		return nil, err
	}
	var s gemmaSpec
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%s/checkpoint.json: %w", dir, err)
	}
	if s.Generator != "gemma" {
		return nil, fmt.Errorf("%s/checkpoint.json: generator %q, want gemma", dir, s.Generator)
	}
	if s.Shards < 1 {
		s.Shards = 1
	}
	return &s, nil
}

// gemmaTensor is one tensor of a generated checkpoint.
type gemmaTensor struct {
	name  string
	shape []int64
	norm  bool // an RMSNorm/LayerNorm weight: larger values, stored as offsets from 1 by Gemma
}

// gemmaTensors lists the tensors transformers saves for the config (modeling_gemma.py,
// modeling_gemma2.py, modeling_gemma3.py), with the defaults of Gemma3TextConfig for what a
// Gemma3ForConditionalGeneration text_config leaves out.
func gemmaTensors(cfg map[string]any, spec *gemmaSpec) ([]gemmaTensor, error) {
	text := cfg
	prefix := "model."
	if tc, ok := cfg["text_config"].(map[string]any); ok {
		text = tc
		prefix = "language_model.model."
	}
	mt, _ := text["model_type"].(string)
	version := map[string]int{"gemma": 1, "gemma2": 2, "gemma3_text": 3}[mt]
	if version == 0 {
		return nil, fmt.Errorf("model_type %q is not a Gemma text model", mt)
	}
	get := func(key string, def int64) (int64, error) {
		v, ok := text[key]
		if !ok || v == nil {
			if def < 0 {
				return 0, fmt.Errorf("config.json: no %s", key)
			}
			return def, nil
		}
		f, ok := v.(float64)
		if !ok || f != math.Trunc(f) || f <= 0 {
			return 0, fmt.Errorf("config.json: %s = %v", key, v)
		}
		return int64(f), nil
	}
	defHeads, defKV, defHD := int64(-1), int64(-1), int64(-1)
	if version == 3 {
		defHeads, defKV, defHD = 8, 4, 256
	}
	hidden, err := get("hidden_size", -1)
	if err != nil {
		return nil, err
	}
	ffn, err := get("intermediate_size", -1)
	if err != nil {
		return nil, err
	}
	layers, err := get("num_hidden_layers", -1)
	if err != nil {
		return nil, err
	}
	heads, err := get("num_attention_heads", defHeads)
	if err != nil {
		return nil, err
	}
	if defKV < 0 {
		defKV = heads
	}
	kv, err := get("num_key_value_heads", defKV)
	if err != nil {
		return nil, err
	}
	hd, err := get("head_dim", defHD)
	if err != nil {
		return nil, err
	}
	rows := spec.VocabRows
	if rows == 0 {
		if rows, err = get("vocab_size", -1); err != nil {
			return nil, err
		}
	}
	var ts []gemmaTensor
	add := func(name string, norm bool, shape ...int64) {
		ts = append(ts, gemmaTensor{name, shape, norm})
	}
	add(prefix+"embed_tokens.weight", false, rows, hidden)
	add(prefix+"norm.weight", true, hidden)
	if spec.LMHead {
		add(strings.TrimSuffix(prefix, "model.")+"lm_head.weight", false, rows, hidden)
	}
	for b := int64(0); b < layers; b++ {
		p := fmt.Sprintf("%slayers.%d.", prefix, b)
		add(p+"self_attn.q_proj.weight", false, heads*hd, hidden)
		add(p+"self_attn.k_proj.weight", false, kv*hd, hidden)
		add(p+"self_attn.v_proj.weight", false, kv*hd, hidden)
		add(p+"self_attn.o_proj.weight", false, hidden, heads*hd)
		add(p+"mlp.gate_proj.weight", false, ffn, hidden)
		add(p+"mlp.up_proj.weight", false, ffn, hidden)
		add(p+"mlp.down_proj.weight", false, hidden, ffn)
		add(p+"input_layernorm.weight", true, hidden)
		add(p+"post_attention_layernorm.weight", true, hidden)
		if version >= 2 {
			add(p+"pre_feedforward_layernorm.weight", true, hidden)
			add(p+"post_feedforward_layernorm.weight", true, hidden)
		}
		if version == 3 {
			add(p+"self_attn.q_norm.weight", true, hd)
			add(p+"self_attn.k_norm.weight", true, hd)
		}
	}
	if vc, ok := cfg["vision_config"].(map[string]any); ok {
		// SigLIP vision tower and Gemma 3's projector (modeling_siglip.py, modeling_gemma3.py).
		vget := func(key string) (int64, error) {
			f, ok := vc[key].(float64)
			if !ok || f <= 0 || f != math.Trunc(f) {
				return 0, fmt.Errorf("config.json: vision_config.%s = %v", key, vc[key])
			}
			return int64(f), nil
		}
		vh, err := vget("hidden_size")
		if err != nil {
			return nil, err
		}
		vi, err := vget("intermediate_size")
		if err != nil {
			return nil, err
		}
		vl, err := vget("num_hidden_layers")
		if err != nil {
			return nil, err
		}
		ps, err := vget("patch_size")
		if err != nil {
			return nil, err
		}
		is, err := vget("image_size")
		if err != nil {
			return nil, err
		}
		v := "vision_tower.vision_model."
		add(v+"embeddings.patch_embedding.weight", false, vh, 3, ps, ps)
		add(v+"embeddings.patch_embedding.bias", false, vh)
		add(v+"embeddings.position_embedding.weight", false, (is/ps)*(is/ps), vh)
		for b := int64(0); b < vl; b++ {
			p := fmt.Sprintf("%sencoder.layers.%d.", v, b)
			for _, n := range []string{"layer_norm1", "layer_norm2"} {
				add(p+n+".weight", true, vh)
				add(p+n+".bias", false, vh)
			}
			for _, n := range []string{"q_proj", "k_proj", "v_proj", "out_proj"} {
				add(p+"self_attn."+n+".weight", false, vh, vh)
				add(p+"self_attn."+n+".bias", false, vh)
			}
			add(p+"mlp.fc1.weight", false, vi, vh)
			add(p+"mlp.fc1.bias", false, vi)
			add(p+"mlp.fc2.weight", false, vh, vi)
			add(p+"mlp.fc2.bias", false, vh)
		}
		add(v+"post_layernorm.weight", true, vh)
		add(v+"post_layernorm.bias", false, vh)
		add("multi_modal_projector.mm_input_projection_weight", false, vh, hidden)
		add("multi_modal_projector.mm_soft_emb_norm.weight", true, vh)
	}
	return ts, nil
}

// gemmaRNG is splitmix64: a fixed, portable sequence for a seed.
type gemmaRNG uint64

func (r *gemmaRNG) next() uint64 {
	*r += 0x9e3779b97f4a7c15
	z := uint64(*r)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// value returns a roughly normal number (Irwin-Hall sum of four 12-bit uniforms) times 2^-shift.
// Only integer arithmetic and an exact power-of-two scaling are involved, so the values are the
// same on every platform.
func (r *gemmaRNG) value(shift int) float32 {
	u := r.next()
	s := int64(u&0xfff) + int64(u>>12&0xfff) + int64(u>>24&0xfff) + int64(u>>36&0xfff) - 8190
	return float32(math.Ldexp(float64(s), -shift))
}

// gemmaValues fills a tensor: weights with standard deviation ~0.018 (like N(0, 0.02)), norm
// weights with ~0.6, so that 1 + w spreads over [-1, 3] (real Gemma norms are offsets from 1).
func gemmaValues(seed uint64, tt gemmaTensor) []float32 {
	h := fnv.New64a()
	h.Write([]byte(tt.name))
	rng := gemmaRNG(seed ^ h.Sum64())
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

func gemmaEncode(dtype string, v []float32) (st.DType, []byte, error) {
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

// gemmaWriteCheckpoint generates the checkpoint described by specDir/checkpoint.json into
// out (created): the copied files, the tokenizer model and the safetensors shards (named and
// indexed as transformers does when it shards).
func gemmaWriteCheckpoint(specDir, out string) error {
	spec, err := loadGemmaSpec(specDir)
	if err != nil {
		return err
	}
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
	tok, err := os.ReadFile(filepath.Join("..", spec.TokenizerModel))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "tokenizer.model"), tok, 0o644); err != nil {
		return err
	}
	cfgBytes, err := os.ReadFile(filepath.Join(specDir, "config.json"))
	if err != nil {
		return err
	}
	var cfg map[string]any
	if err := json.Unmarshal(cfgBytes, &cfg); err != nil {
		return fmt.Errorf("%s/config.json: %w", specDir, err)
	}
	ts, err := gemmaTensors(cfg, spec)
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
		dt, b, err := gemmaEncode(spec.DType, gemmaValues(spec.Seed, tt))
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
		weightMap[e.name] = gemmaShardName(i, spec.Shards)
	}
	for i, m := range shards {
		if m == nil {
			return fmt.Errorf("%s: shard %d of %d is empty", specDir, i+1, spec.Shards)
		}
		b, err := st.Serialize(m, map[string]string{"format": "pt"})
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, gemmaShardName(i, spec.Shards)), b, 0o644); err != nil {
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

func gemmaShardName(i, n int) string {
	if n == 1 {
		return "model.safetensors"
	}
	return fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, n)
}

// gemmaDirDigest hashes every file of a directory (names and contents).
func gemmaDirDigest(t *testing.T, dir string) string {
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

// TestWriteGemmaCheckpoints writes the checkpoints under -gemma-out (to run llama.cpp's converter
// on them); without the flag it checks that generation is deterministic.
func TestWriteGemmaCheckpoints(t *testing.T) {
	for _, d := range gemmaLocalDirs(t) {
		name := filepath.Base(d)
		t.Run(name, func(t *testing.T) {
			if *gemmaOut != "" {
				out := filepath.Join(*gemmaOut, name)
				if err := gemmaWriteCheckpoint(d, out); err != nil {
					t.Fatal(err)
				}
				t.Logf("wrote %s", out)
				return
			}
			a, b := filepath.Join(t.TempDir(), name), filepath.Join(t.TempDir(), name)
			for _, o := range []string{a, b} {
				if err := gemmaWriteCheckpoint(d, o); err != nil {
					t.Fatal(err)
				}
			}
			if da, db := gemmaDirDigest(t, a), gemmaDirDigest(t, b); da != db {
				t.Fatalf("two generations differ: %s vs %s", da, db)
			}
		})
	}
}

// TestGemmaLocalMatchesLlamaCpp converts each generated Gemma checkpoint at every outtype
// llama.cpp's converter was run with and requires the same tensors and metadata (general.*
// provenance keys are reported, not required).
func TestGemmaLocalMatchesLlamaCpp(t *testing.T) {
	for _, d := range gemmaLocalDirs(t) {
		name := filepath.Base(d)
		t.Run(name, func(t *testing.T) {
			refs, _ := filepath.Glob(filepath.Join(d, name+".*.gguf.json"))
			if len(refs) == 0 {
				t.Fatalf("no reference manifests in %s", d)
			}
			ckpt := filepath.Join(t.TempDir(), name)
			if err := gemmaWriteCheckpoint(d, ckpt); err != nil {
				t.Fatal(err)
			}
			for _, ref := range refs {
				outtype := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(ref), name+"."), ".gguf.json")
				t.Run(outtype, func(t *testing.T) {
					want, err := manifest.Load(ref)
					if err != nil {
						t.Fatal(err)
					}
					ft, err := ParseOutType(outtype)
					if err != nil {
						t.Fatal(err)
					}
					out := filepath.Join(t.TempDir(), name+"."+outtype+".gguf")
					if _, err := File(context.Background(), ckpt, out, ft, archmap.Options{}, Options{}); err != nil {
						t.Fatal(err)
					}
					f, err := gguf.Open(out)
					if err != nil {
						t.Fatal(err)
					}
					defer f.Close()
					got, err := manifest.FromFile(f)
					if err != nil {
						t.Fatal(err)
					}
					for _, diff := range manifest.Diff(got, want, provenance) {
						t.Error(diff)
					}
					// Provenance keys are reported, not required to match (tensor lines of this
					// second diff repeat the first one's).
					for _, diff := range manifest.Diff(got, want, func(k string) bool { return !provenance(k) }) {
						if strings.HasPrefix(diff, "kv ") {
							t.Log("provenance:", diff)
						}
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
					if len(got.Tensors) != len(want.Tensors) {
						t.Errorf("%d tensors, llama.cpp wrote %d", len(got.Tensors), len(want.Tensors))
					}
				})
			}
		})
	}
}
