package archmap

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ggufy/ggufy/gguf"
)

func gpt2TestConfig() map[string]any {
	return map[string]any{
		"architectures": []any{"GPT2LMHeadModel"}, "n_ctx": 16, "n_positions": 16, "n_embd": 4, "n_head": 2,
		"n_layer": 1, "layer_norm_epsilon": 1e-5, "vocab_size": 8,
	}
}

// gpt2TestShapes returns a one-layer GPT-2 checkpoint's tensors under prefix.
func gpt2TestShapes(prefix string, lmHead, buffers bool) map[string][]uint64 {
	s := map[string][]uint64{
		prefix + "wte.weight": {8, 4}, prefix + "wpe.weight": {16, 4}, prefix + "ln_f.weight": {4}, prefix + "ln_f.bias": {4},
		prefix + "h.0.ln_1.weight": {4}, prefix + "h.0.ln_1.bias": {4}, prefix + "h.0.ln_2.weight": {4}, prefix + "h.0.ln_2.bias": {4},
		prefix + "h.0.attn.c_attn.weight": {4, 12}, prefix + "h.0.attn.c_attn.bias": {12},
		prefix + "h.0.attn.c_proj.weight": {4, 4}, prefix + "h.0.attn.c_proj.bias": {4},
		prefix + "h.0.mlp.c_fc.weight": {4, 16}, prefix + "h.0.mlp.c_fc.bias": {16},
		prefix + "h.0.mlp.c_proj.weight": {16, 4}, prefix + "h.0.mlp.c_proj.bias": {4},
	}
	if lmHead {
		s["lm_head.weight"] = []uint64{8, 4}
	}
	if buffers {
		s[prefix+"h.0.attn.bias"] = []uint64{1, 1, 16, 16}
		s[prefix+"h.0.attn.masked_bias"] = []uint64{1} // a scalar in the checkpoints that have it
	}
	return s
}

// TestGPT2Layouts: both name layouts map to the same GGUF tensors, Conv1D weights come out
// transposed (out[r][c] = in[c][r]), an lm_head becomes output.weight, and the attention buffers
// are dropped.
func TestGPT2Layouts(t *testing.T) {
	base := []string{"blk.0.attn_norm.bias", "blk.0.attn_norm.weight", "blk.0.attn_output.bias", "blk.0.attn_output.weight",
		"blk.0.attn_qkv.bias", "blk.0.attn_qkv.weight", "blk.0.ffn_down.bias", "blk.0.ffn_down.weight", "blk.0.ffn_norm.bias",
		"blk.0.ffn_norm.weight", "blk.0.ffn_up.bias", "blk.0.ffn_up.weight", "output_norm.bias", "output_norm.weight",
		"position_embd.weight", "token_embd.weight"}
	for _, tc := range []struct {
		name            string
		prefix          string
		lmHead, buffers bool
	}{
		{"openai-community", "", false, true},
		{"transformers", "transformer.", false, false},
		{"untied", "transformer.", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shapes := gpt2TestShapes(tc.prefix, tc.lmHead, tc.buffers)
			dir := gemmaTestDir(t, gpt2TestConfig(), shapes, nil)
			c, err := Open(dir, gguf.FileTypeAllF32, Options{NoVocab: true})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			want := map[string]bool{}
			for _, n := range base {
				want[n] = true
			}
			if tc.lmHead {
				want["output.weight"] = true
			}
			got := map[string]*Tensor{}
			for _, tt := range c.Tensors {
				got[tt.Name] = tt
				if !want[tt.Name] {
					t.Errorf("unexpected tensor %s (from %s)", tt.Name, tt.SrcName)
				}
			}
			for n := range want {
				if got[n] == nil {
					t.Errorf("missing tensor %s", n)
				}
			}
			for gg, src := range map[string]string{"blk.0.attn_qkv.weight": "h.0.attn.c_attn.weight", "blk.0.attn_output.weight": "h.0.attn.c_proj.weight",
				"blk.0.ffn_up.weight": "h.0.mlp.c_fc.weight", "blk.0.ffn_down.weight": "h.0.mlp.c_proj.weight"} {
				tt := got[gg]
				if tt == nil {
					continue
				}
				in := shapes[tc.prefix+src]
				if fmt.Sprint(tt.Shape) != fmt.Sprint([]int64{int64(in[1]), int64(in[0])}) {
					t.Errorf("%s shape %v, want the transpose of %v", gg, tt.Shape, in)
					continue
				}
				v := make([]float32, in[0]*in[1])
				if err := tt.ReadRows(v, 0, int(in[1])); err != nil {
					t.Fatal(err)
				}
				for r := uint64(0); r < in[1]; r++ {
					for col := uint64(0); col < in[0]; col++ {
						// gemmaTestDir fills element i with i*0.25 - 1.
						if w := float32(col*in[1]+r)*0.25 - 1; v[r*in[0]+col] != w {
							t.Fatalf("%s[%d][%d] = %v, want %v", gg, r, col, v[r*in[0]+col], w)
						}
					}
				}
			}
			for _, kv := range c.Meta.KVs() {
				if strings.HasPrefix(kv.Key, "tokenizer.") {
					t.Errorf("NoVocab wrote %s", kv.Key)
				}
			}
		})
	}
}

// TestGPT2Params: GPT2Model's own parameter list, in its order.
func TestGPT2Params(t *testing.T) {
	dir := gemmaTestDir(t, gpt2TestConfig(), gpt2TestShapes("", false, false), nil)
	c, err := Open(dir, gguf.FileTypeMostlyF16, Options{NoVocab: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var keys []string
	for _, kv := range c.Meta.KVs() {
		if strings.HasPrefix(kv.Key, "gpt2.") || kv.Key == "general.file_type" {
			keys = append(keys, fmt.Sprintf("%s=%v", kv.Key, kv.Value))
		}
	}
	want := "gpt2.block_count=1 gpt2.context_length=16 gpt2.embedding_length=4 gpt2.feed_forward_length=16 " +
		"gpt2.attention.head_count=2 gpt2.attention.layer_norm_epsilon=1e-05 general.file_type=1"
	if got := strings.Join(keys, " "); got != want {
		t.Errorf("keys\n got  %s\n want %s", got, want)
	}
}

// TestGPT2Errors: keys the converter indexes directly, and the vocabulary it cannot do without.
func TestGPT2Errors(t *testing.T) {
	for _, key := range []string{"n_ctx", "n_embd", "n_head", "layer_norm_epsilon"} {
		t.Run("no "+key, func(t *testing.T) {
			cfg := gpt2TestConfig()
			delete(cfg, key)
			dir := gemmaTestDir(t, cfg, gpt2TestShapes("", false, false), nil)
			c, err := Open(dir, gguf.FileTypeAllF32, Options{NoVocab: true})
			if err == nil {
				c.Close()
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("error %v is not ErrConfig", err)
			}
		})
	}
	t.Run("no tokenizer.json", func(t *testing.T) {
		dir := gemmaTestDir(t, gpt2TestConfig(), gpt2TestShapes("", false, false), nil)
		c, err := Open(dir, gguf.FileTypeAllF32, Options{})
		if err == nil {
			c.Close()
			t.Fatal("no error")
		}
		if !isNoFile(err) {
			t.Fatalf("error %v, want a missing tokenizer.json", err)
		}
	})
}
