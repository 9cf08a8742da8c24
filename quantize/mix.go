package quantize

// Per-tensor type selection of llama-quantize: a port of llama.cpp v0.5.0's src/llama-quant.cpp
// (tensor_allows_quantization, llama_tensor_get_type_impl, tensor_type_fallback,
// tensor_requires_imatrix, llama_ftype_get_default_type), ggml/llama.cpp, MIT license.

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/ggufy/ggufy/gguf"
)

// FileTypeNames are the type names llama-quantize accepts (QUANT_OPTIONS), with aliases.
var FileTypeNames = map[string]gguf.FileType{
	"Q4_0": gguf.FileTypeMostlyQ4_0, "Q4_1": gguf.FileTypeMostlyQ4_1, "MXFP4_MOE": gguf.FileTypeMostlyMXFP4MoE,
	"Q5_0": gguf.FileTypeMostlyQ5_0, "Q5_1": gguf.FileTypeMostlyQ5_1,
	"IQ2_XXS": gguf.FileTypeMostlyIQ2_XXS, "IQ2_XS": gguf.FileTypeMostlyIQ2_XS, "IQ2_S": gguf.FileTypeMostlyIQ2_S,
	"IQ2_M": gguf.FileTypeMostlyIQ2_M, "IQ1_S": gguf.FileTypeMostlyIQ1_S, "IQ1_M": gguf.FileTypeMostlyIQ1_M,
	"TQ1_0": gguf.FileTypeMostlyTQ1_0, "TQ2_0": gguf.FileTypeMostlyTQ2_0,
	"Q2_K": gguf.FileTypeMostlyQ2_K, "Q2_K_S": gguf.FileTypeMostlyQ2_K_S,
	"IQ3_XXS": gguf.FileTypeMostlyIQ3_XXS, "IQ3_S": gguf.FileTypeMostlyIQ3_S, "IQ3_M": gguf.FileTypeMostlyIQ3_M,
	"Q3_K": gguf.FileTypeMostlyQ3_K_M, "IQ3_XS": gguf.FileTypeMostlyIQ3_XS, "Q3_K_S": gguf.FileTypeMostlyQ3_K_S,
	"Q3_K_M": gguf.FileTypeMostlyQ3_K_M, "Q3_K_L": gguf.FileTypeMostlyQ3_K_L,
	"IQ4_NL": gguf.FileTypeMostlyIQ4_NL, "IQ4_XS": gguf.FileTypeMostlyIQ4_XS,
	"Q4_K": gguf.FileTypeMostlyQ4_K_M, "Q4_K_S": gguf.FileTypeMostlyQ4_K_S, "Q4_K_M": gguf.FileTypeMostlyQ4_K_M,
	"Q5_K": gguf.FileTypeMostlyQ5_K_M, "Q5_K_S": gguf.FileTypeMostlyQ5_K_S, "Q5_K_M": gguf.FileTypeMostlyQ5_K_M,
	"Q6_K": gguf.FileTypeMostlyQ6_K, "Q8_0": gguf.FileTypeMostlyQ8_0,
	"F16": gguf.FileTypeMostlyF16, "BF16": gguf.FileTypeMostlyBF16, "F32": gguf.FileTypeAllF32,
}

// ParseFileType parses a llama-quantize type name (case-insensitive, e.g. "Q4_K_M").
func ParseFileType(s string) (gguf.FileType, error) {
	if ft, ok := FileTypeNames[strings.ToUpper(strings.TrimSpace(s))]; ok {
		return ft, nil
	}
	names := make([]string, 0, len(FileTypeNames))
	for n := range FileTypeNames {
		names = append(names, n)
	}
	sort.Strings(names)
	return 0, fmt.Errorf("quantize: unknown type %q (want one of %s)", s, strings.Join(names, ", "))
}

// FileTypeName returns the canonical llama-quantize name of a file type ("Q4_K_M").
func FileTypeName(ft gguf.FileType) string {
	best := ""
	for n, f := range FileTypeNames {
		// prefer the explicit _M names over the Q4_K/Q5_K/Q3_K aliases
		if f == ft && (best == "" || len(n) > len(best) || (len(n) == len(best) && n < best)) {
			best = n
		}
	}
	return best
}

// DefaultType returns a file type's base tensor type (llama_ftype_get_default_type).
func DefaultType(ft gguf.FileType) (gguf.Type, bool) {
	switch ft {
	case gguf.FileTypeMostlyQ4_0:
		return gguf.TypeQ4_0, true
	case gguf.FileTypeMostlyQ4_1:
		return gguf.TypeQ4_1, true
	case gguf.FileTypeMostlyQ5_0:
		return gguf.TypeQ5_0, true
	case gguf.FileTypeMostlyQ5_1:
		return gguf.TypeQ5_1, true
	case gguf.FileTypeMostlyQ8_0:
		return gguf.TypeQ8_0, true
	case gguf.FileTypeMostlyF16:
		return gguf.TypeF16, true
	case gguf.FileTypeMostlyBF16:
		return gguf.TypeBF16, true
	case gguf.FileTypeAllF32:
		return gguf.TypeF32, true
	case gguf.FileTypeMostlyQ1_0:
		return gguf.TypeQ1_0, true
	case gguf.FileTypeMostlyQ2_0:
		return gguf.TypeQ2_0, true
	case gguf.FileTypeMostlyMXFP4MoE:
		return gguf.TypeMXFP4, true
	case gguf.FileTypeMostlyQ2_K_S, gguf.FileTypeMostlyQ2_K:
		return gguf.TypeQ2_K, true
	case gguf.FileTypeMostlyIQ3_XS:
		return gguf.TypeIQ3_S, true
	case gguf.FileTypeMostlyQ3_K_S, gguf.FileTypeMostlyQ3_K_M, gguf.FileTypeMostlyQ3_K_L:
		return gguf.TypeQ3_K, true
	case gguf.FileTypeMostlyQ4_K_S, gguf.FileTypeMostlyQ4_K_M:
		return gguf.TypeQ4_K, true
	case gguf.FileTypeMostlyQ5_K_S, gguf.FileTypeMostlyQ5_K_M:
		return gguf.TypeQ5_K, true
	case gguf.FileTypeMostlyQ6_K:
		return gguf.TypeQ6_K, true
	case gguf.FileTypeMostlyTQ1_0:
		return gguf.TypeTQ1_0, true
	case gguf.FileTypeMostlyTQ2_0:
		return gguf.TypeTQ2_0, true
	case gguf.FileTypeMostlyIQ2_XXS:
		return gguf.TypeIQ2_XXS, true
	case gguf.FileTypeMostlyIQ2_XS, gguf.FileTypeMostlyIQ2_S:
		return gguf.TypeIQ2_XS, true
	case gguf.FileTypeMostlyIQ2_M:
		return gguf.TypeIQ2_S, true
	case gguf.FileTypeMostlyIQ3_XXS:
		return gguf.TypeIQ3_XXS, true
	case gguf.FileTypeMostlyIQ1_S:
		return gguf.TypeIQ1_S, true
	case gguf.FileTypeMostlyIQ1_M:
		return gguf.TypeIQ1_M, true
	case gguf.FileTypeMostlyIQ4_NL:
		return gguf.TypeIQ4_NL, true
	case gguf.FileTypeMostlyIQ4_XS:
		return gguf.TypeIQ4_XS, true
	case gguf.FileTypeMostlyIQ3_S, gguf.FileTypeMostlyIQ3_M:
		return gguf.TypeIQ3_S, true
	}
	return 0, false
}

// ModelInfo is what the type rules need to know about the model (llama_hparams).
type ModelInfo struct {
	Arch    string
	NLayer  int  // n_layer_all
	NHead   int  // layer 0
	NHeadKV int  // layer 0
	NExpert int  // 0 for dense models
	Is70B   bool // llama.cpp's LLM_TYPE_70B
}

// ModelInfoFromMeta reads ModelInfo from GGUF metadata as llama.cpp's loader does.
func ModelInfoFromMeta(m *gguf.Metadata) (ModelInfo, error) {
	arch := m.GetString("general.architecture")
	if arch == "" {
		return ModelInfo{}, fmt.Errorf("quantize: general.architecture is missing")
	}
	first := func(key string, def int64) int64 {
		v, ok := m.Get(key)
		if !ok {
			return def
		}
		if a, ok := v.Array(); ok {
			if a.Len() == 0 {
				return def
			}
			v = a.Index(0)
		}
		if i, ok := v.Int(); ok {
			return i
		}
		return def
	}
	info := ModelInfo{
		Arch:    arch,
		NLayer:  int(first(arch+".block_count", 0)),
		NHead:   int(first(arch+".attention.head_count", 0)),
		NExpert: int(first(arch+".expert_count", 0)),
	}
	info.NHeadKV = int(first(arch+".attention.head_count_kv", int64(info.NHead)))
	info.NLayer += int(first(arch+".nextn_predict_layers", 0))
	switch arch {
	case "llama":
		info.Is70B = info.NLayer == 80 && info.NHead != info.NHeadKV
	case "qwen2", "olmo", "deci":
		info.Is70B = info.NLayer == 80
	case "jais2":
		info.Is70B = info.NLayer == 68
	}
	return info, nil
}

func (m ModelInfo) gqa() int {
	if m.NHeadKV == 0 {
		return 0
	}
	return m.NHead / m.NHeadKV
}

// Override forces the type of tensors whose name matches Pattern (llama-quantize --tensor-type).
type Override struct {
	Pattern *regexp.Regexp
	Type    gguf.Type
}

// Params are llama-quantize's options that affect type selection.
type Params struct {
	FileType           gguf.FileType
	OutputTensorType   gguf.Type // TypeCount = unset
	TokenEmbeddingType gguf.Type // TypeCount = unset
	Pure               bool
	LeaveOutputTensor  bool // !quantize_output_tensor
	HasImatrix         bool
	Overrides          []Override
	AllowRequantize    bool
}

// DefaultParams returns llama_model_quantize_default_params for a file type.
func DefaultParams(ft gguf.FileType) Params {
	return Params{FileType: ft, OutputTensorType: gguf.TypeCount, TokenEmbeddingType: gguf.TypeCount}
}

// TensorDesc is a tensor as the type rules see it.
type TensorDesc struct {
	Name string
	Dims []uint64 // ggml order
	Type gguf.Type
}

type category int

const (
	catOther category = iota
	catOutput
	catTokenEmbd
	catAttnQKV
	catAttnKVB
	catAttnV
	catAttnK
	catAttnQ
	catAttnOutput
	catFFNUp
	catFFNGate
	catFFNDown
)

func categoryOf(name string) category {
	switch {
	case name == "output.weight":
		return catOutput
	case name == "token_embd.weight" || name == "per_layer_token_embd.weight":
		return catTokenEmbd
	case strings.Contains(name, "attn_qkv.weight"):
		return catAttnQKV
	case strings.Contains(name, "attn_kv_b.weight"):
		return catAttnKVB
	case strings.Contains(name, "attn_v.weight"):
		return catAttnV
	case strings.Contains(name, "attn_k.weight"):
		return catAttnK
	case strings.Contains(name, "attn_q.weight"):
		return catAttnQ
	case strings.Contains(name, "attn_output.weight"):
		return catAttnOutput
	case strings.Contains(name, "ffn_up"):
		return catFFNUp
	case strings.Contains(name, "ffn_gate"):
		return catFFNGate
	case strings.Contains(name, "ffn_down"):
		return catFFNDown
	}
	return catOther
}

func (c category) isAttnV() bool { return c == catAttnV || c == catAttnQKV || c == catAttnKVB }

// AllowsQuantization mirrors tensor_allows_quantization.
func AllowsQuantization(p Params, t TensorDesc) bool {
	if nDims(t.Dims) < 2 {
		return false
	}
	n := t.Name
	if !strings.HasSuffix(n, "weight") {
		return false
	}
	if strings.Contains(n, "_norm.weight") {
		return false
	}
	if p.LeaveOutputTensor && n == "output.weight" {
		return false
	}
	for _, s := range []string{"ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel", "per_layer_model_proj",
		"ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight", "indexer.q_proj.weight",
		"time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight",
		"time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight", "time_mix_a0.weight", "time_mix_a1.weight",
		"time_mix_a2.weight", "time_mix_g1.weight", "time_mix_g2.weight", "time_mix_decay_w1.weight",
		"time_mix_decay_w2.weight", "time_mix_lerp_fused.weight", "attn_rel_b.weight", ".position_embd",
		"sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd", ".patch_merger", "a.rvq.codebook", "mm.a.code_embd"} {
		if strings.Contains(n, s) {
			return false
		}
	}
	if n == "position_embd.weight" || n == "token_types.weight" {
		return false
	}
	return true
}

// nDims mirrors ggml_n_dims: trailing dimensions of size 1 do not count.
func nDims(d []uint64) int {
	n := len(d)
	for n > 1 && d[n-1] == 1 {
		n--
	}
	return n
}

// RequiresImatrixFor mirrors tensor_requires_imatrix.
func RequiresImatrixFor(name string, dst gguf.Type, ft gguf.FileType) bool {
	if name == "token_embd.weight" || name == "per_layer_token_embd.weight" || name == "output.weight" {
		return false
	}
	switch dst {
	case gguf.TypeIQ3_XXS, gguf.TypeIQ2_XXS, gguf.TypeIQ2_XS, gguf.TypeIQ2_S, gguf.TypeIQ1_M, gguf.TypeIQ1_S:
		return true
	case gguf.TypeQ2_K:
		return ft == gguf.FileTypeMostlyQ2_K_S
	}
	return false
}

// Choice is the result of type selection for one tensor.
type Choice struct {
	Type            gguf.Type
	Quantize        bool // type differs from the input's
	Allows          bool // tensor_allows_quantization
	RequiresImatrix bool
	Fallback        bool // the target did not fit the row length
}

// ChooseTypes mirrors llama-quantize's preliminary loop: for tensors in llama.cpp's loader order
// (see SortTensors) it returns each tensor's output type.
func ChooseTypes(info ModelInfo, tensors []TensorDesc, p Params) ([]Choice, error) {
	def, ok := DefaultType(p.FileType)
	if !ok {
		return nil, fmt.Errorf("quantize: invalid output file type %d", p.FileType)
	}
	s := &state{info: info, p: p, tiedEmbeddings: true}
	cats := make([]category, len(tensors))
	for i, t := range tensors {
		cats[i] = categoryOf(t.Name)
		if cats[i].isAttnV() {
			s.nAttnV++
		}
		if cats[i] == catOutput {
			s.tiedEmbeddings = false
		}
	}
	s.nFFNDown, s.nFFNGate, s.nFFNUp = info.NLayer, info.NLayer, info.NLayer
	out := make([]Choice, len(tensors))
	for i, t := range tensors {
		c := Choice{Type: t.Type, Allows: AllowsQuantization(p, t)}
		if c.Allows {
			typ, fb, err := s.getType(t, def, cats[i])
			if err != nil {
				return nil, err
			}
			c.Type, c.Fallback = typ, fb
		}
		c.RequiresImatrix = RequiresImatrixFor(t.Name, c.Type, p.FileType)
		c.Quantize = c.Type != t.Type
		if c.Allows && c.RequiresImatrix && !p.HasImatrix {
			return nil, fmt.Errorf("%w: tensor %s would be %s in %s", ErrNeedImatrix, t.Name, c.Type, FileTypeName(p.FileType))
		}
		out[i] = c
	}
	return out, nil
}

type state struct {
	info                               ModelInfo
	p                                  Params
	nAttnV, nFFNDown, nFFNGate, nFFNUp int
	iAttnV, iFFNDown, iFFNGate, iFFNUp int
	tiedEmbeddings                     bool
}

// getType mirrors llama_tensor_get_type.
func (s *state) getType(t TensorDesc, def gguf.Type, cat category) (gguf.Type, bool, error) {
	p := s.p
	if p.TokenEmbeddingType < gguf.TypeCount && cat == catTokenEmbd {
		named := false
		if t.Name == "per_layer_token_embd.weight" {
			for _, o := range p.Overrides {
				if o.Pattern.MatchString(t.Name) {
					named = true
					break
				}
			}
		}
		if !named {
			return p.TokenEmbeddingType, false, nil
		}
	}
	if p.OutputTensorType < gguf.TypeCount && cat == catOutput {
		return p.OutputTensorType, false, nil
	}
	typ := def
	if !def.IsQuantized() {
		return typ, false, nil
	}
	manual := false
	for _, o := range p.Overrides {
		if o.Pattern.MatchString(t.Name) {
			typ = o.Type
			manual = true
			break
		}
	}
	if !manual && !p.Pure {
		var err error
		if typ, err = s.getTypeImpl(typ, t, cat); err != nil {
			return 0, false, err
		}
	}
	fb, changed, err := fallback(t, typ)
	return fb, changed, err
}

// fallback mirrors tensor_type_fallback.
func fallback(t TensorDesc, target gguf.Type) (gguf.Type, bool, error) {
	ncols := int64(t.Dims[0])
	bs := int64(target.BlockSize())
	if bs == 0 || ncols%bs == 0 {
		return target, false, nil
	}
	ret := target
	switch target {
	case gguf.TypeIQ1_S, gguf.TypeIQ1_M, gguf.TypeIQ2_XXS, gguf.TypeIQ2_XS, gguf.TypeIQ2_S, gguf.TypeIQ3_XXS, gguf.TypeIQ3_S, gguf.TypeIQ4_XS:
		ret = gguf.TypeIQ4_NL
	case gguf.TypeQ2_0, gguf.TypeQ2_K, gguf.TypeQ3_K, gguf.TypeTQ1_0, gguf.TypeTQ2_0:
		ret = gguf.TypeQ4_0
	case gguf.TypeQ4_K:
		ret = gguf.TypeQ5_0
	case gguf.TypeQ5_K:
		ret = gguf.TypeQ5_1
	case gguf.TypeQ6_K:
		ret = gguf.TypeQ8_0
	default:
		if bs > 32 {
			return 0, false, fmt.Errorf("quantize: no tensor type fallback is defined for type %s (tensor %s)", target, t.Name)
		}
	}
	if ncols%int64(ret.BlockSize()) != 0 {
		ret = gguf.TypeF16
	}
	return ret, true, nil
}

func useMoreBits(i, n int) bool { return i < n/8 || i >= 7*n/8 || (i-n/8)%3 == 2 }

// layerInfo mirrors the layer_info lambda: with experts, the layer comes from the name.
func (s *state) layerInfo(i, n int, name string) (int, int, error) {
	if max(1, s.info.NExpert) > 1 {
		var l int
		if _, err := fmt.Sscanf(name, "blk.%d.", &l); err != nil {
			return 0, 0, fmt.Errorf("quantize: failed to determine layer for tensor %s", name)
		}
		if l < 0 || l >= n {
			return 0, 0, fmt.Errorf("quantize: bad layer %d for tensor %s, must be in [0, %d)", l, name, n)
		}
		i = l
	}
	return i, n, nil
}

// getTypeImpl mirrors llama_tensor_get_type_impl.
func (s *state) getTypeImpl(typ gguf.Type, t TensorDesc, cat category) (gguf.Type, error) {
	ft := s.p.FileType
	info := s.info
	arch := info.Arch
	is := func(fts ...gguf.FileType) bool {
		for _, f := range fts {
			if ft == f {
				return true
			}
		}
		return false
	}
	switch {
	case cat == catOutput || (s.tiedEmbeddings && cat == catTokenEmbd):
		if s.p.OutputTensorType < gguf.TypeCount {
			typ = s.p.OutputTensorType
		} else {
			nx := int64(t.Dims[0])
			bs := int64(typ.BlockSize())
			switch {
			case ft == gguf.FileTypeMostlyMXFP4MoE:
				typ = gguf.TypeQ8_0
			case arch == "falcon" || nx%bs != 0:
				typ = gguf.TypeQ8_0
			case is(gguf.FileTypeMostlyIQ2_XXS, gguf.FileTypeMostlyIQ2_XS, gguf.FileTypeMostlyIQ3_XXS, gguf.FileTypeMostlyIQ1_S,
				gguf.FileTypeMostlyIQ2_S, gguf.FileTypeMostlyIQ2_M, gguf.FileTypeMostlyIQ1_M):
				typ = gguf.TypeQ5_K
			case typ != gguf.TypeQ8_0:
				typ = gguf.TypeQ6_K
			}
		}
	case ft == gguf.FileTypeMostlyMXFP4MoE:
		isBailingExpert := arch == "bailingmoe3" && (cat == catFFNUp || cat == catFFNGate || cat == catFFNDown)
		if len(t.Dims) > 2 && t.Dims[2] > 1 && (arch != "bailingmoe3" || isBailingExpert) {
			typ = gguf.TypeMXFP4
		} else {
			typ = gguf.TypeQ8_0
		}
	case cat == catTokenEmbd:
		if s.p.TokenEmbeddingType < gguf.TypeCount {
			typ = s.p.TokenEmbeddingType
		} else {
			switch {
			case is(gguf.FileTypeMostlyIQ2_XXS, gguf.FileTypeMostlyIQ2_XS, gguf.FileTypeMostlyIQ1_S, gguf.FileTypeMostlyIQ1_M):
				typ = gguf.TypeQ2_K
			case is(gguf.FileTypeMostlyIQ2_S, gguf.FileTypeMostlyIQ2_M):
				typ = gguf.TypeIQ3_S
			case ft == gguf.FileTypeMostlyIQ3_XXS:
				typ = gguf.TypeIQ3_S
			case is(gguf.FileTypeMostlyTQ1_0, gguf.FileTypeMostlyTQ2_0, gguf.FileTypeMostlyQ2_0):
				typ = gguf.TypeQ4_K
			}
		}
	case is(gguf.FileTypeMostlyIQ2_XXS, gguf.FileTypeMostlyIQ2_XS, gguf.FileTypeMostlyIQ1_S, gguf.FileTypeMostlyIQ2_S,
		gguf.FileTypeMostlyIQ2_M, gguf.FileTypeMostlyIQ1_M):
		iq2sm := is(gguf.FileTypeMostlyIQ2_S, gguf.FileTypeMostlyIQ2_M)
		switch {
		case cat.isAttnV():
			if info.gqa() >= 4 || info.NExpert >= 4 {
				typ = gguf.TypeQ4_K
			} else if iq2sm {
				typ = gguf.TypeIQ3_S
			} else {
				typ = gguf.TypeQ2_K
			}
			s.iAttnV++
		case info.NExpert == 8 && cat == catAttnK:
			typ = gguf.TypeQ4_K
		case cat == catFFNDown:
			if s.iFFNDown < s.nFFNDown/8 {
				if iq2sm {
					typ = gguf.TypeIQ3_S
				} else {
					typ = gguf.TypeQ2_K
				}
			}
			s.iFFNDown++
		case cat == catAttnOutput:
			if info.NExpert == 8 {
				typ = gguf.TypeQ5_K
			} else if is(gguf.FileTypeMostlyIQ1_S, gguf.FileTypeMostlyIQ1_M) {
				typ = gguf.TypeIQ2_XXS
			} else if iq2sm {
				typ = gguf.TypeIQ3_S
			}
		}
	case cat.isAttnV():
		switch {
		case ft == gguf.FileTypeMostlyQ2_K:
			if info.gqa() >= 4 {
				typ = gguf.TypeQ4_K
			} else {
				typ = gguf.TypeQ3_K
			}
		case ft == gguf.FileTypeMostlyQ2_K_S && info.gqa() >= 4:
			typ = gguf.TypeQ4_K
		case ft == gguf.FileTypeMostlyIQ3_XXS:
			switch {
			case info.gqa() >= 4:
				typ = gguf.TypeQ4_K
			case !s.p.HasImatrix:
				typ = gguf.TypeIQ3_S
			default:
				typ = gguf.TypeIQ3_XXS
			}
		case is(gguf.FileTypeMostlyIQ3_XS, gguf.FileTypeMostlyIQ3_S) && info.gqa() >= 4:
			typ = gguf.TypeQ4_K
		case ft == gguf.FileTypeMostlyIQ3_M:
			typ = gguf.TypeQ4_K
		case ft == gguf.FileTypeMostlyQ3_K_M:
			if s.iAttnV < 2 {
				typ = gguf.TypeQ5_K
			} else {
				typ = gguf.TypeQ4_K
			}
		case ft == gguf.FileTypeMostlyQ3_K_L:
			typ = gguf.TypeQ5_K
		case is(gguf.FileTypeMostlyIQ4_NL, gguf.FileTypeMostlyIQ4_XS) && info.gqa() >= 4:
			typ = gguf.TypeQ5_K
		case is(gguf.FileTypeMostlyQ4_K_M, gguf.FileTypeMostlyQ5_K_M) && useMoreBits(s.iAttnV, s.nAttnV):
			typ = gguf.TypeQ6_K
		case ft == gguf.FileTypeMostlyQ4_K_S && s.iAttnV < 4:
			typ = gguf.TypeQ5_K
		}
		if info.Is70B && (typ == gguf.TypeQ3_K || typ == gguf.TypeQ4_K) {
			typ = gguf.TypeQ5_K
		}
		if info.NExpert == 8 {
			typ = gguf.TypeQ8_0
		}
		s.iAttnV++
	case cat == catAttnK:
		switch {
		case info.NExpert == 8:
			typ = gguf.TypeQ8_0
		case ft == gguf.FileTypeMostlyIQ3_XS:
			typ = gguf.TypeIQ3_XXS
		case ft == gguf.FileTypeMostlyIQ3_XXS:
			typ = gguf.TypeIQ2_S
		}
	case cat == catAttnQ:
		switch ft {
		case gguf.FileTypeMostlyIQ3_XS:
			typ = gguf.TypeIQ3_XXS
		case gguf.FileTypeMostlyIQ3_XXS:
			typ = gguf.TypeIQ2_S
		}
	case cat == catFFNDown:
		i, n, err := s.layerInfo(s.iFFNDown, s.nFFNDown, t.Name)
		if err != nil {
			return 0, err
		}
		switch {
		case ft == gguf.FileTypeMostlyQ2_K:
			typ = gguf.TypeQ3_K
		case ft == gguf.FileTypeMostlyQ2_K_S:
			if i < n/8 {
				typ = gguf.TypeQ4_K
			}
		case ft == gguf.FileTypeMostlyIQ3_XXS && !s.p.HasImatrix:
			if i < n/8 {
				typ = gguf.TypeQ4_K
			} else {
				typ = gguf.TypeQ3_K
			}
		case ft == gguf.FileTypeMostlyQ3_K_M:
			switch {
			case i < n/16:
				typ = gguf.TypeQ5_K
			case arch != "falcon" || useMoreBits(i, n):
				typ = gguf.TypeQ4_K
			default:
				typ = gguf.TypeQ3_K
			}
		case ft == gguf.FileTypeMostlyIQ3_M && (i < n/8 || (info.NExpert == 8 && useMoreBits(i, n))):
			typ = gguf.TypeQ4_K
		case ft == gguf.FileTypeMostlyQ3_K_L:
			if arch == "falcon" {
				typ = gguf.TypeQ4_K
			} else {
				typ = gguf.TypeQ5_K
			}
		case ft == gguf.FileTypeMostlyQ4_K_M:
			if arch == "falcon" {
				switch {
				case i < n/16:
					typ = gguf.TypeQ6_K
				case useMoreBits(i, n):
					typ = gguf.TypeQ5_K
				default:
					typ = gguf.TypeQ4_K
				}
			} else if useMoreBits(i, n) {
				typ = gguf.TypeQ6_K
			}
		case i < n/8 && is(gguf.FileTypeMostlyIQ4_NL, gguf.FileTypeMostlyIQ4_XS) && !s.p.HasImatrix:
			typ = gguf.TypeQ5_K
		case ft == gguf.FileTypeMostlyQ5_K_M && useMoreBits(i, n):
			typ = gguf.TypeQ6_K
		case ft == gguf.FileTypeMostlyQ4_K_S && arch != "falcon" && i < n/8:
			typ = gguf.TypeQ5_K
		case is(gguf.FileTypeMostlyQ4_0, gguf.FileTypeMostlyQ5_0) && s.p.HasImatrix && i < n/8:
			if ft == gguf.FileTypeMostlyQ4_0 {
				typ = gguf.TypeQ4_1
			} else {
				typ = gguf.TypeQ5_1
			}
		}
		s.iFFNDown++
	case cat == catAttnOutput:
		if arch != "falcon" {
			if info.NExpert == 8 {
				if is(gguf.FileTypeMostlyQ2_K, gguf.FileTypeMostlyIQ3_XS, gguf.FileTypeMostlyIQ3_XXS, gguf.FileTypeMostlyQ3_K_S,
					gguf.FileTypeMostlyQ3_K_M, gguf.FileTypeMostlyIQ4_NL, gguf.FileTypeMostlyQ4_K_S, gguf.FileTypeMostlyQ4_K_M,
					gguf.FileTypeMostlyIQ3_S, gguf.FileTypeMostlyIQ3_M, gguf.FileTypeMostlyIQ4_XS) {
					typ = gguf.TypeQ5_K
				}
			} else {
				switch ft {
				case gguf.FileTypeMostlyQ2_K:
					typ = gguf.TypeQ3_K
				case gguf.FileTypeMostlyIQ3_XXS:
					typ = gguf.TypeIQ3_S
				case gguf.FileTypeMostlyQ3_K_M:
					typ = gguf.TypeQ4_K
				case gguf.FileTypeMostlyQ3_K_L:
					typ = gguf.TypeQ5_K
				case gguf.FileTypeMostlyIQ3_M:
					typ = gguf.TypeQ4_K
				}
			}
		} else if ft == gguf.FileTypeMostlyQ3_K_L {
			typ = gguf.TypeQ4_K
		}
	case cat == catAttnQKV:
		switch ft {
		case gguf.FileTypeMostlyQ3_K_M, gguf.FileTypeMostlyQ3_K_L, gguf.FileTypeMostlyIQ3_M:
			typ = gguf.TypeQ4_K
		case gguf.FileTypeMostlyQ4_K_M:
			typ = gguf.TypeQ5_K
		case gguf.FileTypeMostlyQ5_K_M:
			typ = gguf.TypeQ6_K
		}
	case cat == catFFNGate:
		i, n, err := s.layerInfo(s.iFFNGate, s.nFFNGate, t.Name)
		if err != nil {
			return 0, err
		}
		if ft == gguf.FileTypeMostlyIQ3_XS && i >= n/8 && i < 7*n/8 {
			typ = gguf.TypeIQ3_XXS
		}
		s.iFFNGate++
	case cat == catFFNUp:
		i, n, err := s.layerInfo(s.iFFNUp, s.nFFNUp, t.Name)
		if err != nil {
			return 0, err
		}
		if ft == gguf.FileTypeMostlyIQ3_XS && i >= n/8 && i < 7*n/8 {
			typ = gguf.TypeIQ3_XXS
		}
		s.iFFNUp++
	}
	return typ, nil
}

// SortTensors orders tensor names as llama.cpp's model loader does (weight_name_comparer): by
// block number (tensors outside blocks first), then by name.
func SortTensors(names []string) {
	layer := func(s string) int {
		var l int
		if _, err := fmt.Sscanf(s, "blk.%d.", &l); err != nil {
			return -1
		}
		return l
	}
	sort.SliceStable(names, func(i, j int) bool {
		a, b := layer(names[i]), layer(names[j])
		if a != b {
			return a < b
		}
		return names[i] < names[j]
	})
}
