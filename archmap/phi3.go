package archmap

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/tokenizer"
)

// phi3 covers Phi3ForCausalLM (Phi-3/3.5 mini and medium, Phi-4-mini), written as GGUF
// architecture "phi3" (llama.cpp conversion/phi.py, Phi3MiniModel; MIT). The fused qkv_proj and
// gate_up_proj weights stay fused (attn_qkv, ffn_up): llama.cpp's phi3 graph splits them at run
// time. Long-context checkpoints (rope_scaling of type longrope/su) get rope_factors_long and
// rope_factors_short tensors and a rope.scaling.attn_factor key.
type phi3 struct{}

func init() {
	register("phi3", func(c *Converter) (Family, error) { return &phi3{}, nil }, "Phi3ForCausalLM")
}

// phi3Dims returns n_embd, n_head and the rotary dimension count (int(rot_pct * n_embd) // n_head).
func phi3Dims(c *Converter) (nEmbd, nHead, ropeDims int64, err error) {
	nEmbd, ok := c.HParams.FindInt("hidden_size", "n_embd")
	if !ok {
		return 0, 0, 0, fmt.Errorf("%w: %s: hidden_size is missing or not an integer", ErrConfig, c.Dir)
	}
	nHead, ok = c.HParams.FindInt("num_attention_heads", "n_head")
	if !ok || nHead <= 0 {
		return 0, 0, 0, fmt.Errorf("%w: %s: num_attention_heads is missing or not a positive integer", ErrConfig, c.Dir)
	}
	rot := 1.0
	if v, present := c.RopeParam["partial_rotary_factor"]; present {
		if rot, ok = asFloat(v); !ok {
			return 0, 0, 0, fmt.Errorf("%w: %s: partial_rotary_factor %v", ErrConfig, c.Dir, v)
		}
	}
	scaled := math.Trunc(rot * float64(nEmbd))
	if scaled < 0 || scaled > math.MaxInt32 {
		return 0, 0, 0, fmt.Errorf("%w: %s: partial_rotary_factor %v", ErrConfig, c.Dir, rot)
	}
	return nEmbd, nHead, int64(scaled) / nHead, nil
}

// phi3OrigCtx returns rope_parameters["original_max_position_embeddings"], which the converter
// requires.
func phi3OrigCtx(c *Converter) (int64, error) {
	v, ok := asInt(c.RopeParam["original_max_position_embeddings"])
	if !ok {
		return 0, fmt.Errorf("%w: %s: original_max_position_embeddings is missing or not an integer", ErrConfig, c.Dir)
	}
	return v, nil
}

func (p *phi3) SetParams(c *Converter) error {
	h := c.HParams
	nEmbd, nHead, ropeDims, err := phi3Dims(c)
	if err != nil {
		return err
	}
	nHeadKV, ok := h.FindInt("num_key_value_heads", "n_head_kv")
	if !ok {
		return fmt.Errorf("%w: %s: num_key_value_heads is missing or not an integer", ErrConfig, c.Dir)
	}
	rmsEps, ok := h.FindFloat("rms_norm_eps")
	if !ok {
		return fmt.Errorf("%w: %s: rms_norm_eps is missing or not a number", ErrConfig, c.Dir)
	}
	maxPos, ok := h.FindInt("n_positions", "max_position_embeddings")
	if !ok {
		return fmt.Errorf("%w: %s: max_position_embeddings is missing or not an integer", ErrConfig, c.Dir)
	}
	origMaxPos, err := phi3OrigCtx(c)
	if err != nil {
		return err
	}
	ffn, ok := h.FindInt("intermediate_size")
	if !ok {
		return fmt.Errorf("%w: %s: intermediate_size is missing or not an integer", ErrConfig, c.Dir)
	}
	theta, ok := asFloat(c.RopeParams()["rope_theta"])
	if !ok {
		return fmt.Errorf("%w: %s: rope_theta is missing or not a number", ErrConfig, c.Dir)
	}
	c.AddUint32(c.K("context_length"), maxPos)
	c.AddUint32(c.K("rope.scaling.original_context_length"), origMaxPos)
	c.AddUint32(c.K("embedding_length"), nEmbd)
	c.AddUint32(c.K("feed_forward_length"), ffn)
	c.AddUint32(c.K("block_count"), int64(c.Blocks))
	c.AddUint32(c.K("attention.head_count"), nHead)
	c.AddUint32(c.K("attention.head_count_kv"), nHeadKV)
	c.AddFloat32(c.K("attention.layer_norm_rms_epsilon"), rmsEps)
	c.AddUint32(c.K("rope.dimension_count"), ropeDims)
	c.AddFloat32(c.K("rope.freq_base"), theta)
	c.AddUint32("general.file_type", int64(c.FileType))
	// A missing or null sliding_window is written as 0, which tells Phi-4 apart from the other
	// PHI3 models.
	var window int64
	if v := h["sliding_window"]; v != nil {
		if window, ok = asInt(v); !ok {
			return fmt.Errorf("%w: %s: sliding_window %v", ErrConfig, c.Dir, v)
		}
	}
	c.AddUint32(c.K("attention.sliding_window"), window)
	return nil
}

// ExtraTensors writes the LongRoPE factors of long-context models (generate_extra_tensors): the
// long and short factor lists as F32 tensors and the attention factor derived from the context
// extension, computed in float64 as Python does.
func (p *phi3) ExtraTensors(c *Converter) ([]*Tensor, error) {
	rp := c.RopeParam
	long, _ := rp["long_factor"].([]any)
	if !truthy(rp["long_factor"]) {
		return nil, nil
	}
	_, _, ropeDims, err := phi3Dims(c)
	if err != nil {
		return nil, err
	}
	maxPos, ok := c.HParams.FindInt("n_positions", "max_position_embeddings")
	if !ok {
		return nil, fmt.Errorf("%w: %s: max_position_embeddings is missing or not an integer", ErrConfig, c.Dir)
	}
	origMaxPos, err := phi3OrigCtx(c)
	if err != nil {
		return nil, err
	}
	if origMaxPos == 0 {
		return nil, fmt.Errorf("%w: %s: original_max_position_embeddings is 0", ErrConfig, c.Dir)
	}
	scale := float64(maxPos) / float64(origMaxPos)
	ropeType := ""
	if v, present := rp["rope_type"]; present {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%w: %s: rope_scaling type %v", ErrConfig, c.Dir, v)
		}
		ropeType = strings.ToLower(s)
	}
	attnFactor := 1.0
	switch ropeType {
	case "":
		return nil, fmt.Errorf("%w: %s: rope_scaling has long_factor but no type", ErrConfig, c.Dir)
	case "su", "longrope":
		if scale > 1 {
			attnFactor = math.Sqrt(1 + math.Log(scale)/math.Log(float64(origMaxPos)))
		}
	case "yarn":
		if scale > 1 {
			attnFactor = 0.1*math.Log(scale) + 1
		}
	default:
		return nil, fmt.Errorf("%w: %s: rope scaling type %q is not supported for Phi-3", ErrConfig, c.Dir, ropeType)
	}
	c.AddFloat32(c.K("rope.scaling.attn_factor"), attnFactor)
	short, ok := rp["short_factor"].([]any)
	if long == nil || !ok {
		return nil, fmt.Errorf("%w: %s: rope_scaling needs both long_factor and short_factor lists", ErrConfig, c.Dir)
	}
	if len(long) != len(short) || int64(2*len(long)) != ropeDims {
		return nil, fmt.Errorf("%w: %s: rope long and short factors must number %d each (half the rotary dimensions), not %d and %d",
			ErrConfig, c.Dir, ropeDims/2, len(long), len(short))
	}
	var out []*Tensor
	for _, f := range []struct {
		kind string
		vals []any
	}{{"ROPE_FACTORS_LONG", long}, {"ROPE_FACTORS_SHORT", short}} {
		vals := make([]float32, len(f.vals))
		for i, v := range f.vals {
			x, ok := asFloat(v)
			if !ok {
				return nil, fmt.Errorf("%w: %s: rope factor %v is not a number", ErrConfig, c.Dir, v)
			}
			vals[i] = float32(x)
		}
		name, err := c.TensorName(f.kind, -1, ".weight")
		if err != nil {
			return nil, err
		}
		t := Generated(name, []int64{int64(len(vals))}, vals)
		t.SrcName = name
		out = append(out, t)
	}
	return out, nil
}

func (p *phi3) Modify(c *Converter, t *Tensor, name string, bid int) ([]*Tensor, error) {
	// gguf-py's TensorNameMap maps the GGUF name of every kind in its table to itself, including
	// the rope factor kinds that have no Hugging Face names (and so no entry in tensormap_gen.go).
	for _, kind := range []string{"ROPE_FACTORS_LONG", "ROPE_FACTORS_SHORT"} {
		if c.MatchTensor(name, kind, -1) {
			return []*Tensor{t.Renamed(name)}, nil
		}
	}
	return c.MapTensor(t, name)
}

// SetVocab mirrors Phi3MiniModel.set_vocab: a GPT-2 BPE vocabulary when tokenizer_config.json
// names GPT2Tokenizer (Phi-4-mini), otherwise Phi-3's own SentencePiece export.
func (p *phi3) SetVocab(c *Converter) error {
	tc, err := c.readJSON("tokenizer_config.json")
	if err != nil {
		return err
	}
	if tc != nil {
		cls, ok := tc["tokenizer_class"]
		if !ok {
			// The converter indexes tokenizer_config["tokenizer_class"] and stops with a KeyError.
			return fmt.Errorf("%w: %s: tokenizer_config.json has no tokenizer_class", ErrConfig, c.Dir)
		}
		if cls == "GPT2Tokenizer" {
			return c.GPT2Vocab()
		}
	}
	tokens, scores, types, err := phi3SentencePieceTokens(c, tc)
	if err != nil {
		return err
	}
	c.AddString("tokenizer.ggml.model", "llama")
	c.AddString("tokenizer.ggml.pre", "default")
	c.AddStrings("tokenizer.ggml.tokens", tokens)
	c.Meta.Set("tokenizer.ggml.scores", gguf.Float32s(scores))
	c.Meta.Set("tokenizer.ggml.token_type", gguf.Int32s(types))
	sv, err := c.newSpecialVocab(false, nil, len(tokens))
	if err != nil {
		return err
	}
	return sv.addTo(c)
}

// phi3SentencePieceTokens builds Phi-3's token list. Unlike _create_vocab_sentencepiece it pads
// to vocab_size, takes every added_tokens_decoder entry of tokenizer_config.json and every
// added_tokens entry of tokenizer.json as is (score -1000, CONTROL when special, USER_DEFINED
// otherwise, no look-special test, no "▁" replacement), and an id past the vocabulary is an
// error (an IndexError in the converter) rather than a warning.
func phi3SentencePieceTokens(c *Converter, tc map[string]any) ([]string, []float32, []int32, error) {
	path := filepath.Join(c.Dir, "tokenizer.model")
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, nil, fmt.Errorf("archmap: %s: Phi-3 needs tokenizer.model: %w", path, errNoFile)
		}
		return nil, nil, nil, err
	}
	sp, err := tokenizer.ParseSentencePiece(f)
	f.Close()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("archmap: %s: %w", path, err)
	}
	vocabSize := int64(len(sp.Pieces))
	if v, present := c.HParams["vocab_size"]; present {
		n, ok := asInt(v)
		if !ok {
			return nil, nil, nil, fmt.Errorf("%w: %s: vocab_size %v", ErrConfig, c.Dir, v)
		}
		vocabSize = n
	}
	if vocabSize < int64(len(sp.Pieces)) || vocabSize > 1<<24 {
		return nil, nil, nil, fmt.Errorf("%w: %s: vocab_size %d for a tokenizer.model of %d pieces", ErrConfig, c.Dir, vocabSize, len(sp.Pieces))
	}
	tokens := make([]string, vocabSize)
	scores := make([]float32, vocabSize)
	types := make([]int32, vocabSize)
	for i := range tokens {
		tokens[i] = fmt.Sprintf("[PAD%d]", i)
		scores[i] = -10000
		types[i] = tokUnused
	}
	for id, piece := range sp.Pieces {
		typ := int32(tokNormal)
		switch piece.Type {
		case tokenizer.PieceUnknown:
			typ = tokUnknown
		case tokenizer.PieceControl:
			typ = tokControl
		case tokenizer.PieceUnused:
			typ = tokUnused
		case tokenizer.PieceByte:
			typ = tokByte
		}
		tokens[id], scores[id], types[id] = piece.Piece, piece.Score, typ
	}
	inRange := func(file string, id int64) error {
		if id < 0 || id >= vocabSize {
			return fmt.Errorf("%w: %s: %s: token id %d is outside the vocabulary of %d", ErrConfig, c.Dir, file, id, vocabSize)
		}
		return nil
	}
	added, err := c.readJSON("added_tokens.json")
	if err != nil {
		return nil, nil, nil, err
	}
	for _, k := range jsonKeysInOrder(filepath.Join(c.Dir, "added_tokens.json"), added) {
		id, ok := asInt(added[k])
		if !ok {
			return nil, nil, nil, fmt.Errorf("%w: %s: added_tokens.json: id %v of %q", ErrConfig, c.Dir, added[k], k)
		}
		if id >= vocabSize {
			c.Warnf("ignore token %d: id is out of range, max=%d", id, vocabSize-1)
			continue
		}
		if err := inRange("added_tokens.json", id); err != nil {
			return nil, nil, nil, err
		}
		tokens[id], scores[id], types[id] = k, -1000, tokUserDefined
	}
	set := func(file string, id int64, data map[string]any) error {
		if err := inRange(file, id); err != nil {
			return err
		}
		content, ok := data["content"].(string)
		if !ok {
			return fmt.Errorf("%w: %s: %s: token %d has no content", ErrConfig, c.Dir, file, id)
		}
		if types[id] != tokUnused && tokens[id] != content {
			c.Warnf("replacing token %d: %q -> %q", id, tokens[id], content)
		}
		tokens[id], scores[id], types[id] = content, -1000, tokUserDefined
		if truthy(data["special"]) {
			types[id] = tokControl
		}
		return nil
	}
	if dec, ok := tc["added_tokens_decoder"].(map[string]any); ok {
		for _, k := range jsonKeysInOrder(filepath.Join(c.Dir, "tokenizer_config.json"), dec) {
			id, err := strconv.ParseInt(strings.TrimSpace(k), 10, 64)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("%w: %s: tokenizer_config.json: added token id %q", ErrConfig, c.Dir, k)
			}
			data, _ := dec[k].(map[string]any)
			if err := set("tokenizer_config.json", id, data); err != nil {
				return nil, nil, nil, err
			}
		}
	}
	tj, err := c.readJSON("tokenizer.json")
	if err != nil {
		return nil, nil, nil, err
	}
	for _, a := range listOf(tj["added_tokens"]) {
		data, _ := a.(map[string]any)
		id, ok := asInt(data["id"])
		if !ok {
			return nil, nil, nil, fmt.Errorf("%w: %s: tokenizer.json: added token id %v", ErrConfig, c.Dir, data["id"])
		}
		if err := set("tokenizer.json", id, data); err != nil {
			return nil, nil, nil, err
		}
	}
	return tokens, scores, types, nil
}
