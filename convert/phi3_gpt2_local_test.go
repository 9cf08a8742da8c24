package convert

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"
)

// The Phi-3 and GPT-2 generated checkpoints (testdata/families-local/phi3*/ and gpt2*/,
// generators "phi3" and "gpt2"); families_local_test.go writes and checks them.

func cfgInt(cfg map[string]any, key string) (int64, error) {
	v, ok := cfg[key]
	if !ok || v == nil {
		return 0, fmt.Errorf("config.json: no %s", key)
	}
	f, ok := v.(float64)
	if !ok || f != math.Trunc(f) || f <= 0 {
		return 0, fmt.Errorf("config.json: %s = %v", key, v)
	}
	return int64(f), nil
}

// phi3Tensors lists what transformers saves for Phi3ForCausalLM (modeling_phi3.py): the fused
// qkv_proj ([(heads + 2 kv_heads) * head_dim, hidden]) and gate_up_proj ([2 * intermediate,
// hidden]), RMSNorm weights and an untied lm_head.
func phi3Tensors(cfg map[string]any, spec *localSpec) ([]localTensor, error) {
	var dims [6]int64
	for i, k := range []string{"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "vocab_size"} {
		v, err := cfgInt(cfg, k)
		if err != nil {
			return nil, err
		}
		dims[i] = v
	}
	hidden, ffn, layers, heads, kv, vocab := dims[0], dims[1], dims[2], dims[3], dims[4], dims[5]
	hd := hidden / heads
	ts := []localTensor{
		{"model.embed_tokens.weight", []int64{vocab, hidden}, false},
		{"model.norm.weight", []int64{hidden}, true},
		{"lm_head.weight", []int64{vocab, hidden}, false},
	}
	for b := int64(0); b < layers; b++ {
		p := fmt.Sprintf("model.layers.%d.", b)
		ts = append(ts,
			localTensor{p + "self_attn.qkv_proj.weight", []int64{(heads + 2*kv) * hd, hidden}, false},
			localTensor{p + "self_attn.o_proj.weight", []int64{hidden, heads * hd}, false},
			localTensor{p + "mlp.gate_up_proj.weight", []int64{2 * ffn, hidden}, false},
			localTensor{p + "mlp.down_proj.weight", []int64{hidden, ffn}, false},
			localTensor{p + "input_layernorm.weight", []int64{hidden}, true},
			localTensor{p + "post_attention_layernorm.weight", []int64{hidden}, true},
		)
	}
	return ts, nil
}

// gpt2Tensors lists what GPT-2 checkpoints hold (modeling_gpt2.py): Conv1D weights stored
// [in, out], the fused c_attn, LayerNorms with biases, learned position embeddings. The spec
// chooses the layout: the transformer. prefix, an untied lm_head, the attention buffers.
func gpt2Tensors(cfg map[string]any, spec *localSpec) ([]localTensor, error) {
	hidden, err := cfgInt(cfg, "n_embd")
	if err != nil {
		return nil, err
	}
	layers, err := cfgInt(cfg, "n_layer")
	if err != nil {
		return nil, err
	}
	pos, err := cfgInt(cfg, "n_positions")
	if err != nil {
		return nil, err
	}
	vocab, err := cfgInt(cfg, "vocab_size")
	if err != nil {
		return nil, err
	}
	inner := 4 * hidden
	if _, ok := cfg["n_inner"]; ok && cfg["n_inner"] != nil {
		if inner, err = cfgInt(cfg, "n_inner"); err != nil {
			return nil, err
		}
	}
	p := spec.Prefix
	ts := []localTensor{
		{p + "wte.weight", []int64{vocab, hidden}, false},
		{p + "wpe.weight", []int64{pos, hidden}, false},
		{p + "ln_f.weight", []int64{hidden}, true},
		{p + "ln_f.bias", []int64{hidden}, false},
	}
	if spec.LMHead {
		ts = append(ts, localTensor{"lm_head.weight", []int64{vocab, hidden}, false})
	}
	for b := int64(0); b < layers; b++ {
		h := fmt.Sprintf("%sh.%d.", p, b)
		ts = append(ts,
			localTensor{h + "ln_1.weight", []int64{hidden}, true},
			localTensor{h + "ln_1.bias", []int64{hidden}, false},
			localTensor{h + "attn.c_attn.weight", []int64{hidden, 3 * hidden}, false},
			localTensor{h + "attn.c_attn.bias", []int64{3 * hidden}, false},
			localTensor{h + "attn.c_proj.weight", []int64{hidden, hidden}, false},
			localTensor{h + "attn.c_proj.bias", []int64{hidden}, false},
			localTensor{h + "ln_2.weight", []int64{hidden}, true},
			localTensor{h + "ln_2.bias", []int64{hidden}, false},
			localTensor{h + "mlp.c_fc.weight", []int64{hidden, inner}, false},
			localTensor{h + "mlp.c_fc.bias", []int64{inner}, false},
			localTensor{h + "mlp.c_proj.weight", []int64{inner, hidden}, false},
			localTensor{h + "mlp.c_proj.bias", []int64{hidden}, false},
		)
		if spec.AttnBiasBuffers {
			// The causal-mask buffer (its values do not matter: it is dropped).
			ts = append(ts, localTensor{h + "attn.bias", []int64{1, 1, pos, pos}, false})
		}
	}
	return ts, nil
}

// TestGPT2DropsAttentionBuffers converts gpt2-rand with the h.N.attn.bias buffers that
// openai-community/gpt2's model.safetensors carries and requires the same output as without
// them. (llama.cpp v0.5.0's GPT2Model.modify_tensors means to drop them — "we don't need these"
// — but hands them to map_tensor_name, which raises; ggufy drops them.)
func TestGPT2DropsAttentionBuffers(t *testing.T) {
	d := filepath.Join(localRoot, "gpt2-rand")
	spec, err := loadLocalSpec(d)
	if err != nil {
		t.Fatal(err)
	}
	spec.AttnBiasBuffers = true
	ckpt := filepath.Join(t.TempDir(), "gpt2-rand")
	if err := writeLocalSpec(d, spec, ckpt); err != nil {
		t.Fatal(err)
	}
	compareLocal(t, ckpt, filepath.Join(d, "gpt2-rand.f32.gguf.json"), "f32", true)
}
