package archmap

import (
	"fmt"
	"strings"
)

// gpt2 covers GPT2LMHeadModel (GPT-2 and its fine-tunes), written as GGUF architecture "gpt2"
// (llama.cpp conversion/gpt2.py, GPT2Model; MIT). GPT-2's Conv1D layers store their weights as
// [in, out]; the converter transposes c_attn, c_proj and c_fc weights to the [out, in] layout of
// a linear layer. The fused c_attn stays fused (attn_qkv). Tensors are named with or without the
// "transformer." prefix (both are in the name table). There is no tied-output handling: an
// lm_head.weight in the checkpoint becomes output.weight, and without one the file has no output
// tensor (llama.cpp then uses token_embd).
type gpt2 struct{}

func init() {
	register("gpt2", func(c *Converter) (Family, error) { return &gpt2{}, nil }, "GPT2LMHeadModel")
}

// SetParams mirrors GPT2Model.set_gguf_parameters, which replaces TextModel's list.
func (g *gpt2) SetParams(c *Converter) error {
	h := c.HParams
	nCtx, err := h.MustInt("n_ctx")
	if err != nil {
		return err
	}
	nEmbd, err := h.MustInt("n_embd")
	if err != nil {
		return err
	}
	nHead, err := h.MustInt("n_head")
	if err != nil {
		return err
	}
	eps, ok := h.Float("layer_norm_epsilon")
	if !ok {
		return fmt.Errorf("%w: config.json: \"layer_norm_epsilon\" is missing or not a number", ErrConfig)
	}
	c.AddUint32(c.K("block_count"), int64(c.Blocks))
	c.AddUint32(c.K("context_length"), nCtx)
	c.AddUint32(c.K("embedding_length"), nEmbd)
	c.AddUint32(c.K("feed_forward_length"), 4*nEmbd)
	c.AddUint32(c.K("attention.head_count"), nHead)
	c.AddFloat32(c.K("attention.layer_norm_epsilon"), eps)
	c.AddUint32("general.file_type", int64(c.FileType))
	return nil
}

// SetVocab writes the GPT-2 BPE vocabulary (TextModel.set_vocab).
func (g *gpt2) SetVocab(c *Converter) error { return c.GPT2Vocab() }

// Modify mirrors GPT2Model.modify_tensors: transpose the Conv1D weights, map the name, and map
// the mapped name once more (the call to TextModel.modify_tensors), which leaves GGUF names as
// they are.
//
// The attention layers' causal-mask buffers (h.N.attn.bias, h.N.attn.masked_bias), which
// checkpoints saved by older transformers carry (openai-community/gpt2's model.safetensors among
// them), are dropped. The converter means to drop them too ("we don't need these") but, in
// v0.5.0, hands them to map_tensor_name, which raises "Can not map tensor"; dropping them gives
// the file it would write for the checkpoint without the buffers.
func (g *gpt2) Modify(c *Converter, t *Tensor, name string, bid int) ([]*Tensor, error) {
	if strings.HasSuffix(name, ".attn.bias") || strings.HasSuffix(name, ".attn.masked_bias") {
		return nil, nil
	}
	if strings.HasSuffix(name, ".c_attn.weight") || strings.HasSuffix(name, ".c_proj.weight") || strings.HasSuffix(name, ".c_fc.weight") {
		tt, err := t.Transpose2D()
		if err != nil {
			return nil, fmt.Errorf("archmap: %s: Conv1D weight %q: %w", c.Dir, name, err)
		}
		t = tt
	}
	mapped, err := c.MapName(name)
	if err != nil {
		return nil, err
	}
	return c.MapTensor(t, mapped)
}
