package convert

import (
	"fmt"
	"math"
	"strings"
)

// The Gemma families' generated checkpoints (testdata/families-local/gemma*/, generator
// "gemma"); families_local_test.go writes and checks them.

// gemmaTensors lists the tensors transformers saves for the config (modeling_gemma.py,
// modeling_gemma2.py, modeling_gemma3.py), with the defaults of Gemma3TextConfig for what a
// Gemma3ForConditionalGeneration text_config leaves out.
func gemmaTensors(cfg map[string]any, spec *localSpec) ([]localTensor, error) {
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
	var ts []localTensor
	add := func(name string, norm bool, shape ...int64) {
		ts = append(ts, localTensor{name, shape, norm})
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
