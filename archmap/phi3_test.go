package archmap

import (
	"errors"
	"math"
	"testing"

	"github.com/ggufy/ggufy/gguf"
)

// The phi3 and gpt2 families are checked against llama.cpp's converter by convert's
// TestLocalMatchesLlamaCpp and TestFamiliesMatchLlamaCpp; these tests cover the branches their
// checkpoints do not take.

// phi3TestConfig is a tiny Phi-3 config: hidden 8, 2 heads (head_dim 4, so 2 LongRoPE factors),
// no layers, stories260k's 512-piece tokenizer padded to 520.
func phi3TestConfig() map[string]any {
	return map[string]any{
		"architectures": []any{"Phi3ForCausalLM"}, "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 0,
		"num_attention_heads": 2, "num_key_value_heads": 2, "max_position_embeddings": 131072,
		"original_max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "vocab_size": 520,
		"rope_scaling": map[string]any{"long_factor": []any{1.5, 2.5}, "short_factor": []any{1.0, 1.25}, "type": "longrope"},
	}
}

func phi3TestOpen(t *testing.T, cfg map[string]any, files map[string][]byte) (*Converter, error) {
	t.Helper()
	all := gemmaTestTokenizer(t)
	for k, v := range files {
		all[k] = v
	}
	dir := gemmaTestDir(t, cfg, map[string][]uint64{"model.embed_tokens.weight": {520, 8}, "model.norm.weight": {8}}, all)
	return Open(dir, gguf.FileTypeAllF32, Options{})
}

func metaFloat(t *testing.T, c *Converter, key string) float64 {
	t.Helper()
	v, ok := c.Meta.Get(key)
	if !ok {
		t.Fatalf("no %s", key)
	}
	f, ok := v.Float()
	if !ok {
		t.Fatalf("%s is not a number", key)
	}
	return f
}

// TestPhi3RopeScaling: the attention factor of each rope scaling type the converter accepts,
// the factor tensors, and no factors (nor key) without long_factor.
func TestPhi3RopeScaling(t *testing.T) {
	su := math.Sqrt(1 + math.Log(32)/math.Log(4096))
	for _, tc := range []struct {
		name    string
		typ     any // nil: no rope_scaling
		maxPos  int
		attn    float64 // 0: no key expected
		tensors []string
	}{
		{"longrope", "longrope", 131072, su, []string{"rope_factors_long.weight", "rope_factors_short.weight"}},
		{"su", "su", 131072, su, []string{"rope_factors_long.weight", "rope_factors_short.weight"}},
		{"LongRoPE upper case", "LongRoPE", 131072, su, []string{"rope_factors_long.weight", "rope_factors_short.weight"}},
		{"yarn", "yarn", 131072, 0.1*math.Log(32) + 1, []string{"rope_factors_long.weight", "rope_factors_short.weight"}},
		{"no extension", "longrope", 4096, 1, []string{"rope_factors_long.weight", "rope_factors_short.weight"}},
		{"none", nil, 4096, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := phi3TestConfig()
			cfg["max_position_embeddings"] = tc.maxPos
			if tc.typ == nil {
				cfg["rope_scaling"] = nil
			} else {
				cfg["rope_scaling"].(map[string]any)["type"] = tc.typ
			}
			c, err := phi3TestOpen(t, cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if tc.attn == 0 {
				if _, ok := c.Meta.Get("phi3.rope.scaling.attn_factor"); ok {
					t.Error("rope.scaling.attn_factor written without long_factor")
				}
			} else {
				if got := metaFloat(t, c, "phi3.rope.scaling.attn_factor"); got != float64(float32(tc.attn)) {
					t.Errorf("attn_factor %v, want %v", got, float32(tc.attn))
				}
				if kv := c.Meta.KVs(); kv[1].Key != "phi3.rope.scaling.attn_factor" {
					t.Errorf("second key %s, want the attention factor right after general.architecture", kv[1].Key)
				}
			}
			var got []string
			for _, tt := range c.Tensors {
				if tt.Name == "rope_factors_long.weight" || tt.Name == "rope_factors_short.weight" {
					got = append(got, tt.Name)
					v := make([]float32, 2)
					if err := tt.ReadRows(v, 0, 1); err != nil {
						t.Fatal(err)
					}
					want := []float32{1.5, 2.5}
					if tt.Name == "rope_factors_short.weight" {
						want = []float32{1, 1.25}
					}
					if v[0] != want[0] || v[1] != want[1] {
						t.Errorf("%s = %v, want %v", tt.Name, v, want)
					}
				}
			}
			if len(got) != len(tc.tensors) || (len(got) > 0 && (got[0] != tc.tensors[0] || got[1] != tc.tensors[1])) {
				t.Errorf("factor tensors %v, want %v", got, tc.tensors)
			}
		})
	}
}

// TestPhi3PartialRotary: Phi-4-mini's partial_rotary_factor shrinks rope.dimension_count
// (int(0.75 * 8) // 2 = 3), and with it the number of factors the converter requires.
func TestPhi3PartialRotary(t *testing.T) {
	cfg := phi3TestConfig()
	cfg["partial_rotary_factor"] = 0.75
	if _, err := phi3TestOpen(t, cfg, nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("2 factors for 3 rotary dimensions: error %v, want ErrConfig", err)
	}
	cfg["rope_scaling"] = nil
	c, err := phi3TestOpen(t, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if v := c.Meta.GetInt("phi3.rope.dimension_count", -1); v != 3 {
		t.Errorf("rope.dimension_count %d, want 3", v)
	}
	if v := c.Meta.GetInt("phi3.attention.sliding_window", -1); v != 0 {
		t.Errorf("attention.sliding_window %d, want 0 without sliding_window", v)
	}
}

// TestPhi3ConfigErrors: what the converter indexes directly or rejects.
func TestPhi3ConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(map[string]any)
		files map[string][]byte
	}{
		{"three long factors", func(c map[string]any) {
			c["rope_scaling"].(map[string]any)["long_factor"] = []any{1.0, 2.0, 3.0}
		}, nil},
		{"no short factors", func(c map[string]any) { delete(c["rope_scaling"].(map[string]any), "short_factor") }, nil},
		{"long factors without type", func(c map[string]any) { delete(c["rope_scaling"].(map[string]any), "type") }, nil},
		{"dynamic scaling", func(c map[string]any) { c["rope_scaling"].(map[string]any)["type"] = "dynamic" }, nil},
		{"no original_max_position_embeddings", func(c map[string]any) { delete(c, "original_max_position_embeddings") }, nil},
		{"no rms_norm_eps", func(c map[string]any) { delete(c, "rms_norm_eps") }, nil},
		{"null num_key_value_heads", func(c map[string]any) { c["num_key_value_heads"] = nil }, nil},
		{"no rope_theta", func(c map[string]any) { delete(c, "rope_theta") }, nil},
		{"tokenizer_config.json without tokenizer_class", func(map[string]any) {}, map[string][]byte{"tokenizer_config.json": []byte(`{}`)}},
		{"added token past the vocabulary", func(map[string]any) {},
			map[string][]byte{"tokenizer_config.json": []byte(`{"tokenizer_class": "LlamaTokenizer", "added_tokens_decoder": {"520": {"content": "<x>", "special": true}}}`)}},
		{"vocab_size under the tokenizer's", func(c map[string]any) { c["vocab_size"] = 500 }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := phi3TestConfig()
			tc.edit(cfg)
			c, err := phi3TestOpen(t, cfg, tc.files)
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

// TestPhi3Vocab: Phi-3's own SentencePiece export: padding to vocab_size, added_tokens.json (out
// of range ids ignored), then tokenizer_config.json's and tokenizer.json's added tokens as they
// are (CONTROL when special, no "▁" replacement, even for ids of the SentencePiece model).
func TestPhi3Vocab(t *testing.T) {
	files := map[string][]byte{
		"added_tokens.json":     []byte(`{"<|a|>": 512, "<|far|>": 600}`),
		"tokenizer_config.json": []byte(`{"tokenizer_class": "LlamaTokenizer", "added_tokens_decoder": {"0": {"content": "<unk>", "special": true}, "513": {"content": "▁b", "special": false}}}`),
		"tokenizer.json":        []byte(`{"added_tokens": [{"id": 514, "content": "c", "special": true}]}`),
	}
	c, err := phi3TestOpen(t, phi3TestConfig(), files)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	arr := func(key string) any {
		v, _ := c.Meta.Get(key)
		a, _ := v.Array()
		return a.Values
	}
	tokens, _ := arr("tokenizer.ggml.tokens").([]string)
	types, _ := arr("tokenizer.ggml.token_type").([]int32)
	scores, _ := arr("tokenizer.ggml.scores").([]float32)
	if len(tokens) != 520 || len(types) != 520 || len(scores) != 520 {
		t.Fatalf("%d tokens, %d types, %d scores, want 520", len(tokens), len(types), len(scores))
	}
	for _, tc := range []struct {
		id    int
		tok   string
		typ   int32
		score float32
	}{
		{0, "<unk>", tokControl, -1000},
		{512, "<|a|>", tokUserDefined, -1000},
		{513, "▁b", tokUserDefined, -1000},
		{514, "c", tokControl, -1000},
		{519, "[PAD519]", tokUnused, -10000},
	} {
		if tokens[tc.id] != tc.tok || types[tc.id] != tc.typ || scores[tc.id] != tc.score {
			t.Errorf("token %d: %q type %d score %v, want %q %d %v", tc.id, tokens[tc.id], types[tc.id], scores[tc.id], tc.tok, tc.typ, tc.score)
		}
	}
	if m := c.Meta.GetString("tokenizer.ggml.model"); m != "llama" {
		t.Errorf("tokenizer.ggml.model %q, want llama", m)
	}
}
