package archmap

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Gemma families, ported from llama.cpp's converter (convert_hf_to_gguf.py, conversion/gemma.py,
// llama.cpp v0.5.0, MIT): GemmaModel (gemma), Gemma2Model (gemma2) and Gemma3Model (gemma3, which
// also converts the language model of Gemma3ForConditionalGeneration; its vision tower and
// projector are dropped by the text filter, as the converter's TextModel does).
//
// What they share: RMSNorm weights are stored as offsets from 1 (Gemma's RMSNorm multiplies by
// 1 + weight), so every tensor whose name ends in "norm.weight" gets 1 added; the output head is
// tied to the token embeddings (no output tensor is written).

type gemma struct {
	version int // 1, 2 or 3
}

func init() {
	register("gemma", func(c *Converter) (Family, error) { return &gemma{version: 1}, nil }, "GemmaForCausalLM")
	register("gemma2", func(c *Converter) (Family, error) { return &gemma{version: 2}, nil }, "Gemma2ForCausalLM")
	register("gemma3", func(c *Converter) (Family, error) { return &gemma{version: 3}, nil },
		"Gemma3ForCausalLM", "Gemma3ForConditionalGeneration")
}

// FilterName drops lm_head.weight for gemma and gemma2 (GemmaModel/Gemma2Model.filter_tensors:
// llama.cpp ties the output to the embeddings, and AutoAWQ checkpoints carry an lm_head anyway).
// Gemma3Model has no such filter: an lm_head there maps to output.weight.
func (g *gemma) FilterName(name string) string {
	if g.version < 3 && name == "lm_head.weight" {
		return ""
	}
	return name
}

// SetVocab mirrors the families' set_vocab.
func (g *gemma) SetVocab(c *Converter) error {
	switch g.version {
	case 1:
		if err := c.SentencePieceVocab(); err != nil {
			return err
		}
		// GemmaModel writes a second special vocabulary with CodeGemma's fill-in-the-middle
		// tokens at fixed ids (the converter notes they should only be exported for CodeGemma).
		// Only eot has a GGUF key; prefix/suffix/middle/fsep have no writer and are skipped.
		sv, err := c.newSpecialVocab(false, []string{"prefix", "suffix", "middle", "fsep", "eot"}, 0)
		if err != nil {
			return err
		}
		for _, st := range []struct {
			typ string
			id  int64
		}{{"prefix", 67}, {"suffix", 69}, {"middle", 68}, {"fsep", 70}, {"eot", 107}} {
			if err := sv.setToken(c, st.typ, st.id); err != nil {
				return err
			}
		}
		sv.chatTemplate = nil // written by the first special vocabulary already
		if err := sv.addTo(c); err != nil {
			return err
		}
		c.AddBool("tokenizer.ggml.add_space_prefix", false)
	case 2:
		if err := c.SentencePieceVocab(); err != nil {
			return err
		}
		c.AddBool("tokenizer.ggml.add_space_prefix", false)
	default:
		if c.fileExists("tokenizer.model") {
			if err := c.SentencePieceVocab(); err != nil {
				return err
			}
			c.AddBool("tokenizer.ggml.add_space_prefix", false)
			return nil
		}
		return c.GPT2Vocab()
	}
	return nil
}

// SetParams mirrors the families' set_gguf_parameters. Gemma and Gemma 2 write their own list
// (not TextModel's); Gemma 3 writes TextModel's and then overrides some keys with defaults for
// fields its published configs leave out (Gemma3ForConditionalGeneration's text_config).
func (g *gemma) SetParams(c *Converter) error {
	if g.version == 3 {
		return g.gemma3Params(c)
	}
	h := c.HParams
	need := func(key string) (int64, error) {
		v, err := h.MustInt(key)
		if err != nil {
			return 0, fmt.Errorf("archmap: %s: %w", c.HFArch, err)
		}
		return v, nil
	}
	needFloat := func(key string) (float64, error) {
		v, ok := h.Float(key)
		if !ok {
			return 0, fmt.Errorf("%w: %s: config.json: %q is missing or not a number", ErrConfig, c.HFArch, key)
		}
		return v, nil
	}
	ctx, err := need("max_position_embeddings")
	if err != nil {
		return err
	}
	c.AddUint32(c.K("context_length"), ctx)
	emb, err := need("hidden_size")
	if err != nil {
		return err
	}
	c.AddUint32(c.K("embedding_length"), emb)
	c.AddUint32(c.K("block_count"), int64(c.Blocks))
	ff, err := need("intermediate_size")
	if err != nil {
		return err
	}
	c.AddUint32(c.K("feed_forward_length"), ff)
	heads, err := need("num_attention_heads")
	if err != nil {
		return err
	}
	c.AddUint32(c.K("attention.head_count"), heads)
	kv := heads
	if h.Has("num_key_value_heads") {
		if kv, err = need("num_key_value_heads"); err != nil {
			return err
		}
	}
	c.AddUint32(c.K("attention.head_count_kv"), kv)
	eps, err := needFloat("rms_norm_eps")
	if err != nil {
		return err
	}
	c.AddFloat32(c.K("attention.layer_norm_rms_epsilon"), eps)
	hd, err := need("head_dim")
	if err != nil {
		return err
	}
	c.AddUint32(c.K("attention.key_length"), hd)
	c.AddUint32(c.K("attention.value_length"), hd)
	c.AddUint32("general.file_type", int64(c.FileType))
	if g.version == 1 {
		return nil
	}
	attnCap, err := needFloat("attn_logit_softcapping")
	if err != nil {
		return err
	}
	c.AddFloat32(c.K("attn_logit_softcapping"), attnCap)
	finalCap, err := needFloat("final_logit_softcapping")
	if err != nil {
		return err
	}
	c.AddFloat32(c.K("final_logit_softcapping"), finalCap)
	sw, err := need("sliding_window")
	if err != nil {
		return err
	}
	c.AddUint32(c.K("attention.sliding_window"), sw)
	return nil
}

// gemma3Params mirrors Gemma3Model.set_gguf_parameters. Keys TextModel already wrote keep their
// place when overwritten (GGUFWriter.add_key_value replaces the value in its dict).
func (g *gemma) gemma3Params(c *Converter) error {
	if err := c.TextParams(); err != nil {
		return err
	}
	h := c.HParams
	// hparams.get(key, default): the default only when the key is absent; a null value would
	// fail in the converter when it is written.
	intOr := func(key string, def int64) (int64, error) {
		if !h.Has(key) {
			return def, nil
		}
		v, ok := h.Int(key)
		if !ok {
			return 0, fmt.Errorf("%w: %s: config.json: %q is not an integer", ErrConfig, c.HFArch, key)
		}
		return v, nil
	}
	ctx, err := intOr("max_position_embeddings", 131072)
	if err != nil {
		return err
	}
	c.AddUint32(c.K("context_length"), ctx)
	heads, err := intOr("num_attention_heads", 8)
	if err != nil {
		return err
	}
	c.AddUint32(c.K("attention.head_count"), heads)
	eps := 1e-6
	if h.Has("rms_norm_eps") {
		v, ok := h.Float("rms_norm_eps")
		if !ok {
			return fmt.Errorf("%w: %s: config.json: \"rms_norm_eps\" is not a number", ErrConfig, c.HFArch)
		}
		eps = v
	}
	c.AddFloat32(c.K("attention.layer_norm_rms_epsilon"), eps)
	hd, err := intOr("head_dim", 256)
	if err != nil {
		return err
	}
	c.AddUint32(c.K("attention.key_length"), hd)
	c.AddUint32(c.K("attention.value_length"), hd)
	// The rope theta of the global (full attention) layers.
	rp := c.RopeParams()
	theta := 1_000_000.0
	if v, has := rp["rope_theta"]; has {
		f, ok := asFloat(v)
		if !ok {
			return fmt.Errorf("%w: %s: rope_theta %v is not a number", ErrConfig, c.HFArch, v)
		}
		theta = f
	}
	c.AddFloat32(c.K("rope.freq_base"), theta)
	// The converter asserts that Gemma 3 has no attention logit softcapping.
	if v, ok := h["attn_logit_softcapping"]; ok && v != nil {
		return fmt.Errorf("%w: %s: attn_logit_softcapping is %v; Gemma 3 has none", ErrConfig, c.HFArch, v)
	}
	if v := h["final_logit_softcapping"]; truthy(v) {
		f, ok := asFloat(v)
		if !ok {
			return fmt.Errorf("%w: %s: final_logit_softcapping %v is not a number", ErrConfig, c.HFArch, v)
		}
		c.AddFloat32(c.K("final_logit_softcapping"), f)
	}
	if !isOne(h["sliding_window_pattern"]) {
		sw, err := h.MustInt("sliding_window")
		if err != nil {
			return fmt.Errorf("archmap: %s: %w", c.HFArch, err)
		}
		c.AddUint32(c.K("attention.sliding_window"), sw)
	}
	kv, err := intOr("num_key_value_heads", 4)
	if err != nil {
		return err
	}
	c.AddUint32(c.K("attention.head_count_kv"), kv)
	return nil
}

// isOne reports whether a JSON value equals Python's 1 (1, 1.0 or true).
func isOne(v any) bool {
	if b, ok := v.(bool); ok {
		return b
	}
	f, ok := asFloat(v)
	return ok && f == 1
}

// Modify adds 1 to the RMSNorm weights and, for Gemma 3, drops the embedding rows beyond the
// tokenizer's vocabulary (Gemma3Model.modify_tensors removes out-of-vocabulary rows, e.g. the
// image tokens of Gemma3ForConditionalGeneration).
func (g *gemma) Modify(c *Converter, t *Tensor, name string, bid int) ([]*Tensor, error) {
	if g.version == 3 && strings.Contains(name, "embed_tokens.weight") {
		n, err := gemma3VocabRows(c)
		if err != nil {
			return nil, err
		}
		if len(t.Shape) == 0 {
			return nil, fmt.Errorf("archmap: %s: tensor %q is a scalar", c.HFArch, name)
		}
		// data_torch[:n] keeps all rows when n is past the end.
		if n < t.Shape[0] {
			if t, err = t.RowSlice(t.Name, 0, n); err != nil {
				return nil, err
			}
		}
	}
	if strings.HasSuffix(name, "norm.weight") {
		// torch: a BF16 source is float32 here, an F16 one stays float16 (Map rounds it).
		t = t.Map(func(v float32) float32 { return v + 1 })
	}
	return c.MapTensor(t, name)
}

// gemma3VocabRows returns the number of embedding rows Gemma 3 keeps: the size of the
// SentencePiece vocabulary as the converter builds it (vocab_size or the model's piece count),
// or without tokenizer.model, the tokenizer.json model vocabulary plus its added tokens.
func gemma3VocabRows(c *Converter) (int64, error) {
	if c.fileExists("tokenizer.model") {
		tokens, _, _, err := c.sentencePieceTokens()
		if err != nil {
			return 0, err
		}
		return int64(len(tokens)), nil
	}
	path := filepath.Join(c.Dir, "tokenizer.json")
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("archmap: %s: no tokenizer.model and no tokenizer.json: %w", c.Dir, errNoFile)
		}
		return 0, err
	}
	var tj struct {
		Model struct {
			Vocab json.RawMessage `json:"vocab"`
		} `json:"model"`
		AddedTokens []json.RawMessage `json:"added_tokens"`
	}
	if err := json.Unmarshal(b, &tj); err != nil {
		return 0, fmt.Errorf("archmap: %s: %w", path, err)
	}
	if tj.Model.Vocab == nil || tj.AddedTokens == nil {
		return 0, fmt.Errorf("%w: %s: no model.vocab or no added_tokens", ErrConfig, path)
	}
	// model.vocab is an object for BPE/WordPiece and a list of [piece, score] for Unigram;
	// len() counts either.
	var n int
	var obj map[string]json.RawMessage
	var list []json.RawMessage
	switch {
	case json.Unmarshal(tj.Model.Vocab, &obj) == nil && obj != nil:
		n = len(obj)
	case json.Unmarshal(tj.Model.Vocab, &list) == nil && list != nil:
		n = len(list)
	default:
		return 0, fmt.Errorf("%w: %s: model.vocab is neither an object nor a list", ErrConfig, path)
	}
	return int64(n + len(tj.AddedTokens)), nil
}
