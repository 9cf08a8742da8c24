package archmap

import (
	"fmt"
	"math"
	"strings"
)

// llama covers LlamaForCausalLM (Llama 1-3.x), MistralForCausalLM and MixtralForCausalLM, all
// written as GGUF architecture "llama" (llama.cpp conversion/llama.py, LlamaModel).
type llama struct {
	experts map[int]map[string]*Tensor // held-back Mixtral expert tensors by block
}

func init() {
	register("llama", func(c *Converter) (Family, error) { return &llama{}, nil },
		"LLaMAForCausalLM", "LlamaForCausalLM", "MistralForCausalLM", "MixtralForCausalLM", "LlamaModel")
}

func (l *llama) SetVocab(c *Converter) error {
	if c.fileExists("tekken.json") && !c.fileExists("tokenizer.json") {
		return fmt.Errorf("%w: %s: Mistral tekken.json tokenizers are not supported", ErrUnsupportedArch, c.Dir)
	}
	tc, err := c.readJSON("tokenizer_config.json")
	if err != nil {
		return err
	}
	if v, ok := tc["add_prefix_space"].(bool); ok {
		c.AddBool("tokenizer.ggml.add_space_prefix", v)
	}
	if err := c.SentencePieceVocab(); err != nil {
		if !isNoFile(err) {
			return err
		}
		if err := c.LlamaHFVocab(); err != nil {
			if !isNoFile(err) && !isNotLlamaHF(err) {
				return err
			}
			if err := c.GPT2Vocab(); err != nil {
				return err
			}
		}
	}
	vocab, _ := c.HParams.Int("vocab_size")
	if !c.HParams.Has("vocab_size") {
		vocab = 32000
	}
	if vocab == 32016 { // CodeLlama
		sv, err := c.newSpecialVocab(false, []string{"prefix", "suffix", "middle", "eot"}, 0)
		if err != nil {
			return err
		}
		for typ, id := range map[string]int64{"prefix": 32007, "suffix": 32008, "middle": 32009, "eot": 32010} {
			sv.setToken(c, typ, id)
		}
		if err := sv.addTo(c); err != nil {
			return err
		}
	}
	if vocab == 49152 { // granite small models
		c.AddBool("tokenizer.ggml.add_bos_token", false)
	}
	return nil
}

func (l *llama) SetParams(c *Converter) error {
	if err := c.TextParams(); err != nil {
		return err
	}
	vocab, err := c.HParams.MustInt("vocab_size")
	if err != nil {
		return err
	}
	c.AddUint32(c.K("vocab_size"), vocab)
	rope, err := headDim(c)
	if err != nil {
		return err
	}
	c.AddUint32(c.K("rope.dimension_count"), rope)
	return nil
}

// headDim returns head_dim, or hidden_size / num_attention_heads.
func headDim(c *Converter) (int64, error) {
	if v, ok := c.HParams.Int("head_dim"); ok {
		return v, nil
	}
	hidden, err := c.HParams.MustInt("hidden_size")
	if err != nil {
		return 0, err
	}
	heads, err := c.HParams.MustInt("num_attention_heads")
	if err != nil {
		return 0, err
	}
	if heads <= 0 {
		return 0, fmt.Errorf("%w: num_attention_heads %d", ErrConfig, heads)
	}
	return hidden / heads, nil
}

// permuteQK applies LlamaModel.permute for a q or k projection (weight or bias).
func permuteQK(t *Tensor, nHead, nHeadKV int64) (*Tensor, error) {
	if nHeadKV > 0 && nHead != nHeadKV {
		nHead = nHeadKV
	}
	rows := t.Shape[0]
	if nHead <= 0 || rows%(2*nHead) != 0 {
		return nil, fmt.Errorf("archmap: tensor %q: %d rows cannot be split into %d heads for the rotary permutation", t.Name, rows, nHead)
	}
	return t.PermuteOuter(llamaPermute(int(rows), int(nHead))), nil
}

func (l *llama) Modify(c *Converter, t *Tensor, name string, bid int) ([]*Tensor, error) {
	nHead, ok := c.HParams.FindInt("n_heads", "num_attention_heads")
	if !ok {
		return nil, fmt.Errorf("%w: num_attention_heads missing", ErrConfig)
	}
	nKV, ok := c.HParams.FindInt("n_kv_heads", "num_key_value_heads")
	if !ok {
		return nil, fmt.Errorf("%w: num_key_value_heads missing", ErrConfig)
	}
	if c.HFArch == "LlamaModel" {
		name = "model." + name
	}
	var err error
	if strings.HasSuffix(name, "q_proj.weight") || strings.HasSuffix(name, "q_proj.bias") {
		if t, err = permuteQK(t, nHead, nHead); err != nil {
			return nil, err
		}
	}
	if strings.HasSuffix(name, "k_proj.weight") || strings.HasSuffix(name, "k_proj.bias") {
		if t, err = permuteQK(t, nHead, nKV); err != nil {
			return nil, err
		}
	}
	if strings.Contains(name, "block_sparse_moe.experts") {
		return l.mixtralExperts(c, t, name, bid)
	}
	return c.MapTensor(t, name)
}

// mixtralExperts holds Mixtral's per-expert w1/w2/w3 until a block has all of them, then stacks
// each into one 3-D tensor (ffn_gate_exps, ffn_down_exps, ffn_up_exps).
func (l *llama) mixtralExperts(c *Converter, t *Tensor, name string, bid int) ([]*Tensor, error) {
	nExp, err := c.HParams.MustInt("num_local_experts")
	if err != nil {
		return nil, err
	}
	if bid < 0 {
		return nil, fmt.Errorf("archmap: expert tensor %q has no block number", name)
	}
	if l.experts == nil {
		l.experts = map[int]map[string]*Tensor{}
	}
	if l.experts[bid] == nil {
		l.experts[bid] = map[string]*Tensor{}
	}
	l.experts[bid][name] = t
	if int64(len(l.experts[bid])) < nExp*3 {
		return nil, nil
	}
	var out []*Tensor
	for _, wid := range []string{"w1", "w2", "w3"} {
		parts := make([]*Tensor, nExp)
		for x := range parts {
			ename := fmt.Sprintf("model.layers.%d.block_sparse_moe.experts.%d.%s.weight", bid, x, wid)
			p, ok := l.experts[bid][ename]
			if !ok {
				return nil, fmt.Errorf("archmap: block %d: expert tensor %q missing", bid, ename)
			}
			parts[x] = p
			delete(l.experts[bid], ename)
		}
		merged := fmt.Sprintf("layers.%d.feed_forward.experts.%s.weight", bid, wid)
		st, err := Stack(merged, parts)
		if err != nil {
			return nil, err
		}
		mapped, err := c.MapTensor(st, merged)
		if err != nil {
			return nil, err
		}
		out = append(out, mapped...)
	}
	return out, nil
}

func (l *llama) Finish(c *Converter) error {
	var left []string
	for _, m := range l.experts {
		for k := range m {
			left = append(left, k)
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("archmap: unprocessed experts: %v", left)
	}
	return nil
}

// ExtraTensors generates rope_freqs for llama3-style rope scaling.
func (l *llama) ExtraTensors(c *Converter) ([]*Tensor, error) {
	t, err := llama3RopeFreqs(c)
	if err != nil || t == nil {
		return nil, err
	}
	return []*Tensor{t}, nil
}

// llama3RopeFreqs mirrors LlamaModel.generate_extra_tensors: per-frequency scaling factors for
// rope_type "llama3", computed as the converter does (float32 frequencies from torch, the rest in
// Python floats).
func llama3RopeFreqs(c *Converter) (*Tensor, error) {
	rp := c.RopeParams()
	rt, _ := rp["rope_type"].(string)
	if len(rp) == 0 || !strings.EqualFold(rt, "llama3") {
		return nil, nil
	}
	base := 10000.0
	if v, ok := asFloat(rp["rope_theta"]); ok {
		base = v
	}
	dim, err := headDim(c)
	if err != nil {
		return nil, err
	}
	get := func(key string, def float64) float64 {
		if v, ok := asFloat(rp[key]); ok {
			return v
		}
		return def
	}
	factor := get("factor", 8.0)
	lowFF := get("low_freq_factor", 1.0)
	highFF := get("high_freq_factor", 4.0)
	oldCtx := get("original_max_position_embeddings", 8192)
	lowWavelen := oldCtx / lowFF
	highWavelen := oldCtx / highFF
	// torch evaluates this in float32: the frequencies are a float32 tensor and every later
	// expression mixes them with Python floats, which torch casts to float32.
	f32 := func(x float64) float32 { return float32(x) }
	var factors []float32
	for i := int64(0); i < dim; i += 2 {
		exp := float32(i) / float32(dim)
		freq := float32(1) / float32(math.Pow(float64(f32(base)), float64(exp)))
		wavelen := f32(2*math.Pi) / freq
		switch {
		case wavelen < f32(highWavelen):
			factors = append(factors, 1)
		case wavelen > f32(lowWavelen):
			factors = append(factors, f32(factor))
		default:
			smooth := (f32(oldCtx)/wavelen - f32(lowFF)) / f32(highFF-lowFF)
			factors = append(factors, 1/((1-smooth)/f32(factor)+smooth))
		}
	}
	name, err := c.TensorName("ROPE_FREQS", -1, ".weight")
	if err != nil {
		return nil, err
	}
	t := Generated(name, []int64{int64(len(factors))}, factors)
	t.SrcName = name
	return t, nil
}
