package runtime

import (
	"fmt"
	"math"

	"github.com/ggufy/ggufy/gguf"
)

// Rope types (ggml's GGML_ROPE_TYPE_*, as llama_model_rope_type assigns them).
const (
	ropeNone = -1
	ropeNorm = 0 // GGML_ROPE_TYPE_NORMAL: rotate adjacent pairs
	ropeNeox = 2 // GGML_ROPE_TYPE_NEOX: rotate the two halves
)

// Rope scaling types (llama_rope_scaling_type).
const (
	ropeScalingNone     = "none"
	ropeScalingLinear   = "linear"
	ropeScalingYarn     = "yarn"
	ropeScalingLongrope = "longrope"
)

// Sliding window kinds (llama_swa_type); only the standard one occurs in the supported families.
const (
	swaNone     = 0
	swaStandard = 1
)

// HParams are a model's hyperparameters as llama.cpp reads them from GGUF metadata
// (llama_model_base::load_hparams and each architecture's load_arch_hparams).
type HParams struct {
	Arch      string
	NCtxTrain int
	NEmbd     int
	NLayer    int
	NVocab    int
	NHead     []int // per layer
	NHeadKV   []int // per layer
	NFF       []int // per layer (0 for MoE layers without a dense FFN)
	HeadDimK  int
	HeadDimV  int
	NRot      int
	RopeType  int

	RopeFreqBase     float32 // rope_freq_base_train
	RopeFreqScale    float32 // rope_freq_scale_train (1/factor)
	RopeScaling      string  // none, linear, yarn, longrope
	NCtxOrigYarn     int
	RopeAttnFactor   float32
	RopeFreqBaseSWA  float32
	RopeFreqScaleSWA float32

	NormEps    float32 // LayerNorm epsilon
	NormRMSEps float32 // RMSNorm epsilon

	NExpert      int
	NExpertUsed  int
	NFFExp       int
	NFFShexp     int
	ExpertWScale float32

	SWAType int
	NSWA    int
	IsSWA   []bool // per layer

	AttnSoftcap    bool
	AttnSoftcapVal float32
	FinalSoftcap   float32
	AttnScale      float32 // f_attention_scale (0: 1/sqrt(head dim))
}

// metaReader reads "<arch>.<key>" values with llama.cpp's optional/required semantics.
type metaReader struct {
	meta *gguf.Metadata
	arch string
	err  error
}

func (r *metaReader) key(k string) string { return r.arch + "." + k }

func (r *metaReader) fail(k, msg string) {
	if r.err == nil {
		r.err = fmt.Errorf("runtime: metadata %q: %s", k, msg)
	}
}

// get looks up key k of the architecture; a missing key fails the reader when required.
func (r *metaReader) get(k string, required bool) (full string, v gguf.Value, ok bool) {
	full = r.key(k)
	v, ok = r.meta.Get(full)
	if !ok && required {
		r.fail(full, "missing")
	}
	return full, v, ok
}

// u32 reads an unsigned integer key; required keys that are absent are an error.
func (r *metaReader) u32(k string, dst *int, required bool) bool {
	full, v, ok := r.get(k, required)
	if !ok {
		return false
	}
	n, ok := v.Int()
	if !ok {
		// llama.cpp's get_key_or_arr also accepts an array whose elements are all equal when
		// read as a scalar; callers that accept arrays use u32arr.
		r.fail(full, "not an integer")
		return false
	}
	if n < 0 || n > math.MaxInt32 {
		r.fail(full, fmt.Sprintf("out of range: %d", n))
		return false
	}
	*dst = int(n)
	return true
}

// u32arr reads a key that is either one integer (for every layer) or an array of n integers.
func (r *metaReader) u32arr(k string, dst []int, required bool) bool {
	full, v, ok := r.get(k, required)
	if !ok {
		return false
	}
	if n, ok := v.Int(); ok {
		if n < 0 || n > math.MaxInt32 {
			r.fail(full, fmt.Sprintf("out of range: %d", n))
			return false
		}
		for i := range dst {
			dst[i] = int(n)
		}
		return true
	}
	a, ok := v.Array()
	if !ok {
		r.fail(full, "neither an integer nor an array")
		return false
	}
	if a.Len() != len(dst) {
		r.fail(full, fmt.Sprintf("array of %d values for %d layers", a.Len(), len(dst)))
		return false
	}
	for i := range dst {
		n, ok := a.Index(i).Int()
		if !ok || n < 0 || n > math.MaxInt32 {
			r.fail(full, "array element is not a valid integer")
			return false
		}
		dst[i] = int(n)
	}
	return true
}

func (r *metaReader) f32(k string, dst *float32, required bool) bool {
	full, v, ok := r.get(k, required)
	if !ok {
		return false
	}
	f, ok := v.Float()
	if !ok {
		r.fail(full, "not a number")
		return false
	}
	*dst = float32(f)
	return true
}

func (r *metaReader) str(k string, dst *string) bool {
	full, v, ok := r.get(k, false)
	if !ok {
		return false
	}
	s, ok := v.Str()
	if !ok {
		r.fail(full, "not a string")
		return false
	}
	*dst = s
	return true
}

func (r *metaReader) boolean(k string, dst *bool) bool {
	full, v, ok := r.get(k, false)
	if !ok {
		return false
	}
	b, ok := v.Bool()
	if !ok {
		r.fail(full, "not a bool")
		return false
	}
	*dst = b
	return true
}

// maxLayers bounds block_count before anything is sized by it (LLAMA_MAX_LAYERS).
const maxLayers = 512

// readHParams reads the hyperparameters llama_model_base::load_hparams reads for every
// architecture. The family's own keys are read by its load function afterwards.
func readHParams(meta *gguf.Metadata, arch string) (*HParams, *metaReader, error) {
	r := &metaReader{meta: meta, arch: arch}
	h := &HParams{Arch: arch}
	r.u32("context_length", &h.NCtxTrain, true)
	r.u32("embedding_length", &h.NEmbd, true)
	r.u32("block_count", &h.NLayer, true)
	if r.err != nil {
		return nil, nil, r.err
	}
	if h.NLayer <= 0 || h.NLayer > maxLayers {
		return nil, nil, fmt.Errorf("runtime: metadata %q: %d layers", r.key("block_count"), h.NLayer)
	}
	if h.NEmbd <= 0 {
		return nil, nil, fmt.Errorf("runtime: metadata %q: %d", r.key("embedding_length"), h.NEmbd)
	}
	r.u32("expert_count", &h.NExpert, false)
	r.u32("expert_used_count", &h.NExpertUsed, false)
	h.NFF = make([]int, h.NLayer)
	h.NHead = make([]int, h.NLayer)
	h.NHeadKV = make([]int, h.NLayer)
	h.IsSWA = make([]bool, h.NLayer)
	r.u32arr("feed_forward_length", h.NFF, false)
	r.u32arr("attention.head_count", h.NHead, false)
	copy(h.NHeadKV, h.NHead)
	r.u32arr("attention.head_count_kv", h.NHeadKV, false)

	h.NCtxOrigYarn = h.NCtxTrain
	r.u32("rope.scaling.original_context_length", &h.NCtxOrigYarn, false)
	h.RopeFreqBase = 10000
	r.f32("rope.freq_base", &h.RopeFreqBase, false)
	h.RopeScaling = ropeScalingLinear
	r.str("rope.scaling.type", &h.RopeScaling)
	switch h.RopeScaling {
	case ropeScalingNone, ropeScalingLinear, ropeScalingYarn, ropeScalingLongrope:
	default:
		if r.err == nil {
			r.err = fmt.Errorf("runtime: metadata %q: unsupported rope scaling type %q", r.key("rope.scaling.type"), h.RopeScaling)
		}
	}
	var ropescale float32
	if !r.f32("rope.scaling.factor", &ropescale, false) {
		r.f32("rope.scale_linear", &ropescale, false)
	}
	h.RopeFreqScale = 1
	if ropescale != 0 {
		h.RopeFreqScale = 1 / ropescale
	}
	h.RopeAttnFactor = 1
	r.f32("rope.scaling.attn_factor", &h.RopeAttnFactor, false)
	h.RopeFreqBaseSWA = 10000
	h.RopeFreqScaleSWA = 1

	if h.NHead[0] > 0 {
		h.HeadDimK = h.NEmbd / h.NHead[0]
		r.u32("attention.key_length", &h.HeadDimK, false)
		h.HeadDimV = h.NEmbd / h.NHead[0]
		r.u32("attention.value_length", &h.HeadDimV, false)
		h.NRot = h.HeadDimK
		r.u32("rope.dimension_count", &h.NRot, false)
	}
	if r.err != nil {
		return nil, nil, r.err
	}
	for il := range h.NLayer {
		if h.NHead[il] <= 0 || h.NHeadKV[il] <= 0 || h.NHead[il]%h.NHeadKV[il] != 0 {
			return nil, nil, fmt.Errorf("runtime: metadata %q/%q: layer %d has %d heads and %d KV heads",
				r.key("attention.head_count"), r.key("attention.head_count_kv"), il, h.NHead[il], h.NHeadKV[il])
		}
	}
	if h.HeadDimK <= 0 || h.HeadDimV <= 0 || h.NRot < 0 || h.NRot > h.HeadDimK || h.NRot%2 != 0 {
		return nil, nil, fmt.Errorf("runtime: metadata: head dimensions k=%d v=%d rot=%d are not valid", h.HeadDimK, h.HeadDimV, h.NRot)
	}
	if h.NExpert > 0 && (h.NExpertUsed <= 0 || h.NExpertUsed > h.NExpert) {
		return nil, nil, fmt.Errorf("runtime: metadata %q: %d of %d experts", r.key("expert_used_count"), h.NExpertUsed, h.NExpert)
	}
	if h.NExpert > 512 {
		return nil, nil, fmt.Errorf("runtime: metadata %q: %d experts", r.key("expert_count"), h.NExpert)
	}
	return h, r, nil
}

// setSWAPattern is llama_hparams::set_swa_pattern (dense_first false): every n-th layer is a
// full-attention layer, the others slide (n == 0: all slide).
func (h *HParams) setSWAPattern(n int) {
	for il := range h.IsSWA {
		h.IsSWA[il] = n == 0 || il%n < n-1
	}
}

// loadSWAPattern is llama_model_base::load_swa_pattern: an explicit per-layer bool array, or a
// period (default n).
func (h *HParams) loadSWAPattern(r *metaReader, n int) {
	full := r.key("attention.sliding_window_pattern")
	if v, ok := r.meta.Get(full); ok {
		if a, ok := v.Array(); ok {
			if a.Len() != h.NLayer {
				r.fail(full, fmt.Sprintf("array of %d values for %d layers", a.Len(), h.NLayer))
				return
			}
			for i := range h.IsSWA {
				b, ok := a.Index(i).Bool()
				if !ok {
					r.fail(full, "array element is not a bool")
					return
				}
				h.IsSWA[i] = b
			}
			return
		}
		var p int
		if r.u32("attention.sliding_window_pattern", &p, false) {
			n = p
		}
	}
	h.setSWAPattern(n)
}

// contextRope computes the context-wide RoPE settings llama_context derives from the
// hyperparameters with default context parameters (llama_context::llama_context).
func (h *HParams) contextRope() (freqBase, freqScale, extFactor, attnFactor, betaFast, betaSlow float32, nCtxOrig int) {
	freqBase = h.RopeFreqBase
	freqScale = h.RopeFreqScale
	if h.RopeScaling == ropeScalingNone {
		freqScale = 1
	}
	extFactor = 0
	if h.RopeScaling == ropeScalingYarn {
		extFactor = 1
	}
	attnFactor = 1
	if extFactor != 0 {
		factor := 1 / freqScale
		mscale := float32(1)
		if factor > 1 {
			mscale = 0.1*logf(factor) + 1
		}
		attnFactor = mscale
		attnFactor *= 1 / (1 + 0.1*logf(factor))
	}
	attnFactor *= h.RopeAttnFactor
	return freqBase, freqScale, extFactor, attnFactor, 32, 1, h.NCtxOrigYarn
}

func logf(x float32) float32 { return float32(math.Log(float64(x))) }
