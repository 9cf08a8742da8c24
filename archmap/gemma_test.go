package archmap

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	st "github.com/nlpodyssey/safetensors"

	"github.com/ggufy/ggufy/gguf"
)

// The Gemma families are checked against llama.cpp's converter by convert's
// TestLocalMatchesLlamaCpp; these tests cover the branches its checkpoints do not take.

// gemmaTestDir writes a checkpoint with F32 tensors (value i*0.25 - 1 at index i), the given
// config and extra files (name -> content).
func gemmaTestDir(t *testing.T, cfg map[string]any, shapes map[string][]uint64, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	views := map[string]st.TensorView{}
	for name, shape := range shapes {
		n := uint64(1)
		for _, d := range shape {
			n *= d
		}
		data := make([]byte, 4*n)
		for i := uint64(0); i < n; i++ {
			binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(float32(i)*0.25-1))
		}
		v, err := st.NewTensorView(st.F32, shape, data)
		if err != nil {
			t.Fatal(err)
		}
		views[name] = v
	}
	sb, err := st.Serialize(views, map[string]string{"format": "pt"})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "model.safetensors"), sb, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// gemmaTestTokenizer returns a small SentencePiece model (stories260k's, 512 pieces).
func gemmaTestTokenizer(t *testing.T) map[string][]byte {
	t.Helper()
	b, err := os.ReadFile("../testdata/models/stories260k/tokenizer.model")
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{"tokenizer.model": b}
}

func gemmaTestConfig(arch string) map[string]any {
	cfg := map[string]any{
		"architectures": []any{arch}, "hidden_size": 4, "intermediate_size": 8, "num_hidden_layers": 0,
		"num_attention_heads": 1, "num_key_value_heads": 1, "head_dim": 4, "max_position_embeddings": 64,
		"rms_norm_eps": 1e-6, "vocab_size": 8,
	}
	if arch == "Gemma2ForCausalLM" {
		cfg["attn_logit_softcapping"] = 50.0
		cfg["final_logit_softcapping"] = 30.0
		cfg["sliding_window"] = 16
	}
	if arch == "Gemma3ForCausalLM" {
		cfg["sliding_window"] = 16
	}
	return cfg
}

// TestGemmaLMHead: GemmaModel and Gemma2Model drop lm_head.weight (the output is tied to the
// embeddings); Gemma3Model keeps it as output.weight. Norm weights get 1 added.
func TestGemmaLMHead(t *testing.T) {
	for _, tc := range []struct {
		arch string
		want []string
	}{
		{"GemmaForCausalLM", []string{"token_embd.weight", "output_norm.weight"}},
		{"Gemma2ForCausalLM", []string{"token_embd.weight", "output_norm.weight"}},
		{"Gemma3ForCausalLM", []string{"lm_head.weight->output.weight", "token_embd.weight", "output_norm.weight"}},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			dir := gemmaTestDir(t, gemmaTestConfig(tc.arch), map[string][]uint64{
				"lm_head.weight": {8, 4}, "model.embed_tokens.weight": {8, 4}, "model.norm.weight": {4},
			}, gemmaTestTokenizer(t))
			c, err := Open(dir, gguf.FileTypeAllF32, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var got []string
			for _, tt := range c.Tensors {
				n := tt.Name
				if tt.SrcName == "lm_head.weight" {
					n = tt.SrcName + "->" + n
				}
				got = append(got, n)
				if tt.Name == "output_norm.weight" {
					v := make([]float32, 4)
					if err := tt.ReadRows(v, 0, 1); err != nil {
						t.Fatal(err)
					}
					for i, x := range v {
						if want := float32(i)*0.25 - 1 + 1; x != want {
							t.Errorf("output_norm[%d] = %v, want %v", i, x, want)
						}
					}
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("tensors %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("tensors %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// TestGemmaConfigErrors: keys the converter indexes directly, and Gemma 3's assertion that there is
// no attention logit softcapping.
func TestGemmaConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, arch string
		edit       func(map[string]any)
	}{
		{"gemma without head_dim", "GemmaForCausalLM", func(c map[string]any) { delete(c, "head_dim") }},
		{"gemma without max_position_embeddings", "GemmaForCausalLM", func(c map[string]any) { delete(c, "max_position_embeddings") }},
		{"gemma2 without attn_logit_softcapping", "Gemma2ForCausalLM", func(c map[string]any) { delete(c, "attn_logit_softcapping") }},
		{"gemma2 with null final_logit_softcapping", "Gemma2ForCausalLM", func(c map[string]any) { c["final_logit_softcapping"] = nil }},
		{"gemma2 without sliding_window", "Gemma2ForCausalLM", func(c map[string]any) { delete(c, "sliding_window") }},
		{"gemma3 with attn_logit_softcapping", "Gemma3ForCausalLM", func(c map[string]any) { c["attn_logit_softcapping"] = 50.0 }},
		{"gemma3 without sliding_window", "Gemma3ForCausalLM", func(c map[string]any) { delete(c, "sliding_window") }},
		{"gemma3 with null num_key_value_heads", "Gemma3ForCausalLM", func(c map[string]any) { c["num_key_value_heads"] = nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := gemmaTestConfig(tc.arch)
			tc.edit(cfg)
			dir := gemmaTestDir(t, cfg, map[string][]uint64{"model.embed_tokens.weight": {8, 4}, "model.norm.weight": {4}},
				gemmaTestTokenizer(t))
			c, err := Open(dir, gguf.FileTypeAllF32, Options{})
			if err == nil {
				c.Close()
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("error %v is not ErrConfig", err)
			}
		})
	}
}

// TestGemma3VocabRows: without tokenizer.model, Gemma 3 keeps len(model.vocab) +
// len(added_tokens) rows of tokenizer.json, whatever the vocab's form.
func TestGemma3VocabRows(t *testing.T) {
	for _, tc := range []struct {
		name, tokJSON string
		want          int64
		err           error
	}{
		{"bpe", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "c": 2}}, "added_tokens": [{"id": 3, "content": "<x>"}, {"id": 4, "content": "<y>"}]}`, 5, nil},
		{"unigram", `{"model": {"type": "Unigram", "vocab": [["a", 0.0], ["b", -1.0]]}, "added_tokens": [{"id": 2, "content": "<x>"}]}`, 3, nil},
		{"no added tokens", `{"model": {"vocab": {"a": 0}}}`, 0, ErrConfig},
		{"vocab neither object nor list", `{"model": {"vocab": 3}, "added_tokens": []}`, 0, ErrConfig},
		{"no tokenizer.json", "", 0, errNoFile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.tokJSON != "" {
				if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), []byte(tc.tokJSON), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			n, err := gemma3VocabRows(&Converter{Dir: dir})
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("error %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || n != tc.want {
				t.Fatalf("got %d, %v; want %d", n, err, tc.want)
			}
		})
	}
}

// TestGemma3EmbedCutToTokenizerJSON: a Gemma 3 checkpoint with only tokenizer.json gets the GPT-2
// vocabulary (padded to vocab_size) and an embedding cut to the tokenizer's own count.
func TestGemma3EmbedCutToTokenizerJSON(t *testing.T) {
	prev := PreTokenizer
	PreTokenizer = func(string) (string, bool, error) { return "default", true, nil }
	defer func() { PreTokenizer = prev }()
	tok := `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "c": 2, "ab": 3}, "merges": ["a b"]},
		"added_tokens": [{"id": 4, "content": "<start_of_turn>", "special": true}, {"id": 5, "content": "<end_of_turn>", "special": true}]}`
	dir := gemmaTestDir(t, gemmaTestConfig("Gemma3ForCausalLM"), map[string][]uint64{
		"model.embed_tokens.weight": {8, 4}, "model.norm.weight": {4},
	}, map[string][]byte{"tokenizer.json": []byte(tok)})
	c, err := Open(dir, gguf.FileTypeAllF32, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var emb *Tensor
	for _, tt := range c.Tensors {
		if tt.Name == "token_embd.weight" {
			emb = tt
		}
	}
	if emb == nil || len(emb.Shape) != 2 || emb.Shape[0] != 6 || emb.Shape[1] != 4 {
		t.Fatalf("token_embd.weight %+v, want 6 x 4", emb)
	}
	v := make([]float32, 4)
	if err := emb.ReadRows(v, 5, 1); err != nil {
		t.Fatal(err)
	}
	if v[0] != 20*0.25-1 {
		t.Errorf("row 5 starts with %v, want %v", v[0], 20*0.25-1)
	}
	toks, ok := c.Meta.Get("tokenizer.ggml.tokens")
	if !ok {
		t.Fatal("no tokenizer.ggml.tokens")
	}
	if arr, ok := toks.Array(); !ok || arr.Len() != 8 {
		t.Fatalf("tokenizer.ggml.tokens %v, want 8 tokens (vocab_size)", toks)
	}
	if m := c.Meta.GetString("tokenizer.ggml.model"); m != "gpt2" {
		t.Errorf("tokenizer.ggml.model %q, want gpt2", m)
	}
	if _, ok := c.Meta.Get("tokenizer.ggml.add_space_prefix"); ok {
		t.Error("add_space_prefix written for the GPT-2 vocabulary")
	}
}
