// Package archmap maps Hugging Face transformers checkpoints onto GGUF exactly as llama.cpp's
// convert_hf_to_gguf.py does (llama.cpp v0.5.0, MIT): config.json to GGUF metadata, HF tensor
// names to GGUF names with each family's transforms, and the tokenizer to tokenizer.ggml.*.
//
// Each model family lives in its own file and registers the HF architecture names it handles.
// A family implements Family; the shared converter behaviour (TextModel in llama.cpp) is in
// the Converter's methods, which families call the way the Python classes call super().
package archmap

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/safetensors"
)

// Sentinel errors callers can branch on.
var (
	// ErrUnsupportedArch means config.json names an architecture no family handles.
	ErrUnsupportedArch = errors.New("archmap: unsupported architecture")
	// ErrUnknownTensor means a checkpoint tensor has no GGUF name for its architecture.
	ErrUnknownTensor = errors.New("archmap: cannot map tensor")
	// ErrConfig means config.json lacks or misstates a value the architecture needs.
	ErrConfig = errors.New("archmap: bad config")
)

// Family converts one group of HF architectures (one llama.cpp converter class).
type Family interface {
	// SetParams writes the architecture's metadata (set_gguf_parameters).
	SetParams(c *Converter) error
	// SetVocab writes the tokenizer (set_vocab).
	SetVocab(c *Converter) error
	// Modify maps one source tensor to zero or more output tensors (modify_tensors). It may
	// hold tensors back and emit them with a later call (MoE experts).
	Modify(c *Converter, t *Tensor, name string, bid int) ([]*Tensor, error)
}

// ExtraTensors is implemented by families that add generated tensors before the checkpoint's
// own (generate_extra_tensors, e.g. llama3's rope_freqs).
type ExtraTensors interface {
	ExtraTensors(c *Converter) ([]*Tensor, error)
}

// TypeForcer is implemented by families that force a tensor's output type
// (tensor_force_quant). It returns ok=false for no opinion.
type TypeForcer interface {
	ForceType(c *Converter, t *Tensor, bid, nDims int) (typ gguf.Type, ok bool)
}

// Finisher is implemented by families that must check, after the last tensor, that nothing is
// left held back (e.g. unprocessed experts).
type Finisher interface {
	Finish(c *Converter) error
}

// NameFilter is implemented by families that rename or drop checkpoint tensors before
// anything else sees them (filter_tensors). Return "" to drop.
type NameFilter interface {
	FilterName(name string) string
}

type registration struct {
	arch string // GGUF architecture
	new  func(c *Converter) (Family, error)
}

var registry = map[string]registration{}

// register makes a family handle the given HF architecture names (config.json architectures[0]).
func register(arch string, new func(c *Converter) (Family, error), hfNames ...string) {
	for _, n := range hfNames {
		if _, dup := registry[n]; dup {
			panic("archmap: architecture registered twice: " + n)
		}
		registry[n] = registration{arch, new}
	}
}

// Supported returns the HF architecture names that can be converted, sorted.
func Supported() []string {
	var s []string
	for n := range registry {
		s = append(s, n)
	}
	sort.Strings(s)
	return s
}

// Options control a conversion plan.
type Options struct {
	// ModelName overrides general.name (--model-name).
	ModelName string
	// RepoID is the Hub repo the checkpoint came from, if any (used for provenance keys).
	RepoID string
	// TransformersConfig reads config.json as llama.cpp's converter sees it when transformers
	// is installed (AutoConfig(...).to_dict()) rather than the raw file, which it reads when
	// transformers is absent. The difference is the attributes transformers computes, e.g.
	// head_dim for Llama and Mistral configs, which then become attention.key_length and
	// value_length.
	TransformersConfig bool
	// NoVocab writes no tokenizer metadata (the family's set_vocab is skipped): for checking
	// tensors and parameters alone, or a checkpoint whose tokenizer cannot be exported.
	NoVocab bool
}

// Converter holds the state of one conversion: the checkpoint, its hyperparameters, the
// metadata being written and the output tensors.
type Converter struct {
	Dir       string
	HParams   HParams
	HFArch    string // architectures[0]
	Arch      string // GGUF general.architecture
	Blocks    int    // block count
	RopeParam map[string]any
	Ckpt      *safetensors.Checkpoint
	Family    Family
	Meta      *gguf.Metadata
	Tensors   []*Tensor
	// FileType is the output ftype the plan is made for (from the outtype or guessed).
	FileType gguf.FileType
	// General is the provenance metadata written as general.*.
	General *General
	// Warnings collects what the converter would log as warnings.
	Warnings []string

	opts  Options
	names *nameMap
}

// Warnf records a warning.
func (c *Converter) Warnf(format string, args ...any) {
	c.Warnings = append(c.Warnings, fmt.Sprintf(format, args...))
}

// Open reads a checkpoint directory and plans its conversion for the given output file type
// (gguf.FileTypeGuessed for --outtype auto). Tensor data is not read.
func Open(dir string, ftype gguf.FileType, opts Options) (*Converter, error) {
	hp, err := loadHParams(dir)
	if err != nil {
		return nil, err
	}
	c := &Converter{Dir: dir, HParams: hp, opts: opts, FileType: ftype}
	if opts.TransformersConfig {
		autoConfigDefaults(hp)
	}
	archs, _ := hp["architectures"].([]any)
	if len(archs) > 0 {
		c.HFArch, _ = archs[0].(string)
	}
	if tc, ok := hp.Map("text_config"); ok {
		if a, ok := tc["architectures"].([]any); ok && len(a) > 0 {
			if s, ok := a[0].(string); ok {
				c.HFArch = s
			}
		}
	}
	reg, ok := registry[c.HFArch]
	if !ok {
		name := c.HFArch
		if name == "" {
			name = "(config.json has no architectures)"
		}
		return nil, fmt.Errorf("%w: %s in %s; supported: %s", ErrUnsupportedArch, name, filepath.Join(dir, "config.json"), strings.Join(Supported(), ", "))
	}
	c.Arch = reg.arch
	blocks, ok := hp.FindInt("n_layers", "num_hidden_layers", "n_layer", "num_layers")
	if !ok {
		return nil, fmt.Errorf("%w: %s: no num_hidden_layers", ErrConfig, filepath.Join(dir, "config.json"))
	}
	c.Blocks = int(blocks)
	c.names = newNameMap(c.Arch, c.Blocks)
	c.initRope()
	c.Ckpt, err = safetensors.OpenDir(dir)
	if err != nil {
		return nil, err
	}
	fam, err := reg.new(c)
	if err != nil {
		c.Ckpt.Close()
		return nil, err
	}
	c.Family = fam
	if err := c.plan(); err != nil {
		c.Ckpt.Close()
		return nil, err
	}
	return c, nil
}

// Close releases the checkpoint.
func (c *Converter) Close() error { return c.Ckpt.Close() }

// initRope mirrors TextModel.__init__'s rope_parameters normalization.
func (c *Converter) initRope() {
	rp := map[string]any{}
	if m, ok := c.HParams.Map("rope_parameters"); ok {
		rp = cloneMap(m)
	} else if m, ok := c.HParams.Map("rope_scaling"); ok {
		rp = cloneMap(m)
	}
	ropeTheta, hasTheta := c.HParams.Find("global_rope_theta", "rope_global_theta", "rope_theta_global", "rope_theta", "rotary_emb_base")
	localTheta, hasLocal := c.HParams.Find("local_rope_theta", "rope_local_theta", "rope_theta_local", "swa_rope_theta", "rope_local_base_freq")
	partial, hasPartial := c.HParams.Find("partial_rotary_factor", "rope_pct", "rope_percent")
	origMax, hasOrig := c.HParams.Find("original_max_position_embeddings")
	_, hasFull := rp["full_attention"]
	_, hasSliding := rp["sliding_attention"]
	if !hasFull && !hasSliding {
		if hasLocal && localTheta != nil {
			rp["sliding_attention"] = map[string]any{"rope_theta": localTheta}
		}
		if _, ok := rp["rope_theta"]; !ok && hasTheta && ropeTheta != nil {
			rp["rope_theta"] = ropeTheta
		}
		if _, ok := rp["rope_type"]; !ok {
			if t, ok := rp["type"]; ok && t != nil {
				rp["rope_type"] = t
			}
		}
		if _, ok := rp["partial_rotary_factor"]; !ok && hasPartial && partial != nil {
			rp["partial_rotary_factor"] = partial
		}
		if _, ok := rp["original_max_position_embeddings"]; !ok && hasOrig && origMax != nil {
			rp["original_max_position_embeddings"] = origMax
		}
	}
	c.RopeParam = rp
}

func cloneMap(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// RopeParams returns the rope parameters of full attention layers (rope_parameters or its
// "full_attention" entry).
func (c *Converter) RopeParams() map[string]any {
	if m, ok := c.RopeParam["full_attention"].(map[string]any); ok {
		return m
	}
	return c.RopeParam
}

// textFilter drops multimodal tensors and applies the base renames (TextModel/ModelBase
// filter_tensors).
func textFilter(name string) string {
	for _, p := range []string{"mlp", "vit.", "vpm.", "siglip2.", "conformer.", "merger.", "resampler.", "sound_encoder.", "sound_projection.", "speech_embeddings."} {
		if strings.HasPrefix(name, p) {
			return ""
		}
	}
	for _, s := range []string{"visual.", "vision.", "audio.", "talker.", "vision_", "audio_", "token2wav.", "code2wav.", "projector.", "pre_mm_projector_norm", "image_newline", "view_seperator", "patch_embed", "patch_embedding", "patch_merger.", "patch_merge_mlp.", "model.connector."} {
		if strings.Contains(name, s) {
			return ""
		}
	}
	if strings.HasSuffix(name, "e_score_correction_bias") {
		name = strings.Replace(name, "e_score_correction_bias", "e_score_correction.bias", 1)
	}
	return strings.ReplaceAll(name, "language_model.", "")
}

// sources returns the checkpoint tensors in the converter's order (shards in name order, names
// sorted within a shard), renamed by the filters.
func (c *Converter) sources() []*Tensor {
	var out []*Tensor
	for _, f := range c.Ckpt.Files {
		ts := append([]*safetensors.Tensor(nil), f.Tensors...)
		sort.Slice(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
		for _, st := range ts {
			name := st.Name
			if nf, ok := c.Family.(NameFilter); ok {
				if name = nf.FilterName(name); name == "" {
					continue
				}
			}
			if name = textFilter(name); name == "" {
				continue
			}
			t := fromSource(st)
			t.Name, t.SrcName = name, name
			out = append(out, t)
		}
	}
	return out
}

// plan runs the converter's prepare_tensors and prepare_metadata, without touching tensor data.
func (c *Converter) plan() error {
	// GGUFWriter writes general.architecture when it is created, before any tensor is prepared;
	// keys a family adds while preparing tensors (Phi-3's rope.scaling.attn_factor) follow it.
	c.Meta = gguf.NewMetadata()
	c.Meta.Set("general.architecture", gguf.String(c.Arch))
	srcs := c.sources()
	if c.FileType == gguf.FileTypeGuessed {
		c.FileType = gguf.FileTypeMostlyF16
		for _, t := range srcs {
			if len(t.Shape) < 2 {
				continue
			}
			switch t.SrcDType {
			case safetensors.BF16:
				c.FileType = gguf.FileTypeMostlyBF16
			case safetensors.F16:
				c.FileType = gguf.FileTypeMostlyF16
			default:
				continue
			}
			break
		}
	}
	var all []*Tensor
	if ex, ok := c.Family.(ExtraTensors); ok {
		extra, err := ex.ExtraTensors(c)
		if err != nil {
			return err
		}
		all = append(all, extra...)
	}
	all = append(all, srcs...)
	seen := map[string]string{}
	for _, t := range all {
		if strings.HasSuffix(t.Name, ".attention.masked_bias") || strings.HasSuffix(t.Name, ".attention.bias") || strings.HasSuffix(t.Name, ".rotary_emb.inv_freq") {
			continue
		}
		bid := -1
		for _, part := range strings.Split(t.Name, ".") {
			if n, err := strconv.Atoi(part); err == nil && isDecimal(part) {
				bid = n
				break
			}
		}
		t.Bid = bid
		outs, err := c.Family.Modify(c, t, t.Name, bid)
		if err != nil {
			return err
		}
		for _, o := range outs {
			if prev, dup := seen[o.Name]; dup {
				return fmt.Errorf("archmap: %s: tensors %q and %q both map to %q", c.HFArch, prev, o.SrcName, o.Name)
			}
			seen[o.Name] = o.SrcName
			if o.SrcName == "" {
				o.SrcName = t.Name
			}
			o.Bid = bid
			c.Tensors = append(c.Tensors, o)
		}
	}
	if f, ok := c.Family.(Finisher); ok {
		if err := f.Finish(c); err != nil {
			return err
		}
	}
	return c.prepareMetadata()
}

func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// MapName maps an HF tensor name to its GGUF name (map_tensor_name), trying .weight and .bias.
func (c *Converter) MapName(name string) (string, error) {
	_, gg, ok := c.names.lookup(name, ".weight", ".bias")
	if !ok {
		return "", fmt.Errorf("%w: %q (architecture %s, %s)", ErrUnknownTensor, name, c.HFArch, c.Dir)
	}
	return gg, nil
}

// MapTensor renames t to its GGUF name: the default modify_tensors.
func (c *Converter) MapTensor(t *Tensor, name string) ([]*Tensor, error) {
	gg, err := c.MapName(name)
	if err != nil {
		return nil, err
	}
	return []*Tensor{t.Renamed(gg)}, nil
}

// TensorName returns the GGUF name of a tensor kind (format_tensor_name), e.g.
// TensorName("ROPE_FREQS", -1, ".weight").
func (c *Converter) TensorName(kind string, bid int, suffix string) (string, error) {
	n := c.names.format(kind, bid, suffix)
	if n == "" {
		return "", fmt.Errorf("archmap: architecture %s has no tensor kind %s", c.Arch, kind)
	}
	return n, nil
}

// MatchTensor reports whether name is the GGUF name of kind in block bid (.weight suffix).
func (c *Converter) MatchTensor(name, kind string, bid int) bool {
	return c.names.matches(name, kind, bid, ".weight")
}

// f32Kinds are the tensor kinds the converter always stores as F32 (prepare_tensors).
var f32Kinds = []string{"FFN_GATE_INP", "FFN_GATE_INP_SHEXP", "POS_EMBD", "TOKEN_TYPES", "SSM_CONV1D", "SHORTCONV_CONV",
	"TIME_MIX_FIRST", "TIME_MIX_W1", "TIME_MIX_W2", "TIME_MIX_DECAY_W1", "TIME_MIX_DECAY_W2", "TIME_MIX_LERP_FUSED",
	"POSNET_NORM1", "POSNET_NORM2", "V_ENC_EMBD_POS", "A_ENC_EMBD_POS", "ALTUP_CORRECT_COEF", "ALTUP_PREDICT_COEF",
	"SSM_CONV1D_Q", "SSM_CONV1D_K", "SSM_CONV1D_V", "INDEXER_PROJ"}

// OutType returns the GGUF type the converter stores t as for file type ft
// (prepare_tensors): 1-D tensors, norms, biases and some kinds stay F32; the rest follow
// the file type; Q8_0 falls back to F16 when rows are not whole blocks.
func (c *Converter) OutType(t *Tensor, ft gguf.FileType) gguf.Type {
	nDims := len(t.Shape)
	forced, isForced := gguf.Type(0), false
	if tf, ok := c.Family.(TypeForcer); ok {
		forced, isForced = tf.ForceType(c, t, t.Bid, nDims)
	}
	if nDims <= 1 || strings.HasSuffix(t.Name, "_norm.weight") {
		forced, isForced = gguf.TypeF32, true
	}
	if !isForced {
		for _, k := range f32Kinds {
			if c.MatchTensor(t.Name, k, t.Bid) {
				forced, isForced = gguf.TypeF32, true
				break
			}
		}
		suffix := t.Name[max(len(t.Name)-7, 0):]
		if suffix != ".weight" && suffix != ".lora_a" && suffix != ".lora_b" {
			forced, isForced = gguf.TypeF32, true
		}
	}
	if !isForced && (ft == gguf.FileTypeMostlyTQ1_0 || ft == gguf.FileTypeMostlyTQ2_0) {
		for _, k := range []string{"TOKEN_EMBD", "PER_LAYER_TOKEN_EMBD", "OUTPUT", "ALTUP_ROUTER", "LAUREL_L", "LAUREL_R"} {
			if c.MatchTensor(t.Name, k, t.Bid) {
				forced, isForced = gguf.TypeF16, true
				break
			}
		}
	}
	typ := forced
	if !isForced {
		switch ft {
		case gguf.FileTypeAllF32:
			typ = gguf.TypeF32
		case gguf.FileTypeMostlyBF16:
			typ = gguf.TypeBF16
		case gguf.FileTypeMostlyQ8_0:
			typ = gguf.TypeQ8_0
		case gguf.FileTypeMostlyTQ1_0:
			typ = gguf.TypeTQ1_0
		case gguf.FileTypeMostlyTQ2_0:
			typ = gguf.TypeTQ2_0
		default:
			typ = gguf.TypeF16
		}
	}
	if typ.BlockSize() > 1 && t.RowLen()%typ.BlockSize() != 0 {
		// gguf.quants raises QuantError and the converter falls back to F16.
		typ = gguf.TypeF16
	}
	return typ
}

// ParamCounts returns the parameter counts the converter derives from the output tensors
// (GGUFWriter.get_total_parameter_count): total, shared, per-expert and the expert count.
func (c *Converter) ParamCounts() (total, shared, expert int64, nExpert int) {
	var expertSum, nExpertTensors int64
	for _, t := range c.Tensors {
		size := t.NumElements()
		if strings.Contains(t.Name, "_exps.") && len(t.Shape) >= 3 {
			idx := len(t.Shape) - 3
			if strings.Contains(t.Name, ".bias") {
				idx = len(t.Shape) - 2
			}
			ec := t.Shape[idx]
			expert += size / ec
			expertSum += ec
			nExpertTensors++
		} else {
			shared += size
		}
		total += size
	}
	if nExpertTensors > 0 {
		nExpert = int(expertSum / nExpertTensors)
	}
	return total, shared, expert, nExpert
}

// prepareMetadata writes the metadata in the converter's order after general.architecture (and
// whatever the family wrote while preparing tensors): type, the general.* provenance keys, the
// family's parameters, the quantization version, the vocabulary.
func (c *Converter) prepareMetadata() error {
	c.Meta.Set("general.type", gguf.String("model"))
	if err := c.setGeneral(); err != nil {
		return err
	}
	if err := c.Family.SetParams(c); err != nil {
		return err
	}
	c.AddUint32("general.quantization_version", 2)
	if c.opts.NoVocab {
		return nil
	}
	return c.Family.SetVocab(c)
}

// --- metadata writers mirroring GGUFWriter ---

// K returns "<arch>.<suffix>".
func (c *Converter) K(suffix string) string { return c.Arch + "." + suffix }

// AddUint32 sets a UINT32 key.
func (c *Converter) AddUint32(key string, v int64) { c.Meta.Set(key, gguf.Uint32(uint32(v))) }

// AddInt32 sets an INT32 key.
func (c *Converter) AddInt32(key string, v int64) { c.Meta.Set(key, gguf.Int32(int32(v))) }

// AddFloat32 sets a FLOAT32 key.
func (c *Converter) AddFloat32(key string, v float64) { c.Meta.Set(key, gguf.Float32(float32(v))) }

// AddBool sets a BOOL key.
func (c *Converter) AddBool(key string, v bool) { c.Meta.Set(key, gguf.Bool(v)) }

// AddString sets a STRING key; an empty string is skipped, as GGUFWriter.add_string does.
func (c *Converter) AddString(key, v string) {
	if v != "" {
		c.Meta.Set(key, gguf.String(v))
	}
}

// AddStrings sets a string array; empty arrays are skipped.
func (c *Converter) AddStrings(key string, v []string) {
	if len(v) > 0 {
		c.Meta.Set(key, gguf.Strings(v))
	}
}

// AddArray sets an array from JSON-ish values with gguf-py's element type inference (int ->
// INT32, float -> FLOAT32, bool -> BOOL, string -> STRING); empty arrays are skipped.
func (c *Converter) AddArray(key string, vals []any) error {
	if len(vals) == 0 {
		return nil
	}
	switch {
	case isJSONInt(vals[0]) || isGoInt(vals[0]):
		out := make([]int32, len(vals))
		for i, v := range vals {
			n, ok := asInt(v)
			if !ok || !(isJSONInt(v) || isGoInt(v)) {
				return fmt.Errorf("archmap: %s: mixed array element %v", key, v)
			}
			out[i] = int32(n)
		}
		c.Meta.Set(key, gguf.Int32s(out))
	case isNumber(vals[0]):
		out := make([]float32, len(vals))
		for i, v := range vals {
			f, ok := asFloat(v)
			if !ok || isJSONInt(v) {
				return fmt.Errorf("archmap: %s: mixed array element %v", key, v)
			}
			out[i] = float32(f)
		}
		c.Meta.Set(key, gguf.Float32s(out))
	default:
		switch vals[0].(type) {
		case bool:
			out := make([]bool, len(vals))
			for i, v := range vals {
				b, ok := v.(bool)
				if !ok {
					return fmt.Errorf("archmap: %s: mixed array element %v", key, v)
				}
				out[i] = b
			}
			v, _ := gguf.ArrayValue(gguf.ValueBool, out)
			c.Meta.Set(key, v)
		case string:
			out := make([]string, len(vals))
			for i, v := range vals {
				s, ok := v.(string)
				if !ok {
					return fmt.Errorf("archmap: %s: mixed array element %v", key, v)
				}
				out[i] = s
			}
			c.Meta.Set(key, gguf.Strings(out))
		default:
			return fmt.Errorf("archmap: %s: array of %T", key, vals[0])
		}
	}
	return nil
}

func isGoInt(v any) bool {
	switch v.(type) {
	case int, int64, int32:
		return true
	}
	return false
}

func isNumber(v any) bool {
	_, ok := asFloat(v)
	return ok
}

// TextParams writes the base text-model parameters (TextModel.set_gguf_parameters) in order.
func (c *Converter) TextParams() error {
	h := c.HParams
	c.AddUint32(c.K("block_count"), int64(c.Blocks))
	if v, ok := h.FindInt("max_position_embeddings", "n_ctx", "n_positions", "max_length", "max_sequence_length", "model_max_length"); ok {
		c.AddUint32(c.K("context_length"), v)
	}
	if v, ok := h.FindInt("hidden_size", "n_embd", "dim"); ok {
		c.AddUint32(c.K("embedding_length"), v)
	}
	if v, ok := h.FindInt("prefix_dense_intermediate_size", "dense_intermediate_size", "intermediate_size", "n_inner", "hidden_dim"); ok {
		c.AddUint32(c.K("feed_forward_length"), v)
	}
	if v, ok := h.FindInt("num_attention_heads", "n_head", "n_heads"); ok {
		c.AddUint32(c.K("attention.head_count"), v)
	}
	if v, ok := h.FindInt("num_key_value_heads", "n_kv_heads"); ok {
		c.AddUint32(c.K("attention.head_count_kv"), v)
	}
	if b, ok := h.Bool("is_causal"); ok && !b {
		c.AddBool(c.K("attention.causal"), false)
	}
	rp := c.RopeParams()
	if rt, ok := rp["rope_type"].(string); ok {
		factor, hasFactor := asFloat(rp["factor"])
		switch {
		case rt == "linear" && hasFactor:
			c.AddString(c.K("rope.scaling.type"), "linear")
			c.AddFloat32(c.K("rope.scaling.factor"), factor)
		case rt == "yarn" && hasFactor:
			c.AddString(c.K("rope.scaling.type"), "yarn")
			c.AddFloat32(c.K("rope.scaling.factor"), factor)
			orig, ok := asInt(rp["original_max_position_embeddings"])
			if !ok {
				return fmt.Errorf("%w: yarn rope scaling without original_max_position_embeddings", ErrConfig)
			}
			c.AddUint32(c.K("rope.scaling.original_context_length"), orig)
			if v, ok := asFloat(rp["extrapolation_factor"]); ok {
				c.AddFloat32(c.K("rope.scaling.yarn_ext_factor"), v)
			}
			if v, ok := asFloat(firstPresent(rp, "attention_factor", "attn_factor")); ok {
				c.AddFloat32(c.K("rope.scaling.yarn_attn_factor"), v)
			}
			if v, ok := asFloat(rp["beta_fast"]); ok {
				c.AddFloat32(c.K("rope.scaling.yarn_beta_fast"), v)
			}
			if v, ok := asFloat(rp["beta_slow"]); ok {
				c.AddFloat32(c.K("rope.scaling.yarn_beta_slow"), v)
			}
		case rt == "su" || rt == "longrope":
			c.AddString(c.K("rope.scaling.type"), "longrope")
		case rt == "dynamic" || strings.EqualFold(rt, "llama3"):
		case rt == "linear" || rt == "yarn" || rt == "default":
		default:
			c.Warnf("unknown RoPE type %q", rt)
		}
	}
	if ms, ok := c.RopeParam["mrope_section"].([]any); ok {
		for len(ms) < 4 {
			ms = append(ms, 0)
		}
		if err := c.AddArray(c.K("rope.dimension_sections"), ms[:4]); err != nil {
			return err
		}
	}
	if v, ok := asFloat(rp["rope_theta"]); ok {
		c.AddFloat32(c.K("rope.freq_base"), v)
	}
	if sw, ok := c.RopeParam["sliding_attention"].(map[string]any); ok {
		if v, ok := asFloat(sw["rope_theta"]); ok {
			c.AddFloat32(c.K("rope.freq_base_swa"), v)
		}
	}
	if v, ok := h.FindFloat("rms_norm_eps", "norm_eps"); ok {
		c.AddFloat32(c.K("attention.layer_norm_rms_epsilon"), v)
	}
	if v, ok := h.FindFloat("layer_norm_eps", "layer_norm_epsilon", "norm_epsilon"); ok {
		c.AddFloat32(c.K("attention.layer_norm_epsilon"), v)
	}
	if v, ok := h.FindInt("num_local_experts", "num_experts", "n_routed_experts"); ok {
		c.AddUint32(c.K("expert_count"), v)
	}
	if v, ok := h.FindInt("num_experts_per_tok", "num_experts_per_token", "top_k_experts"); ok {
		c.AddUint32(c.K("expert_used_count"), v)
	}
	if v, ok := h.Int("n_group"); ok {
		c.AddUint32(c.K("expert_group_count"), v)
	}
	if v, ok := h.Int("topk_group"); ok {
		c.AddUint32(c.K("expert_group_used_count"), v)
	}
	if v, ok := h.Find("score_function", "scoring_func", "score_func", "moe_router_activation", "moe_router_activation_func", "expert_selection_fn"); ok && v != nil {
		switch v {
		case "sigmoid":
			c.AddUint32(c.K("expert_gating_func"), 2)
		case "softmax":
			c.AddUint32(c.K("expert_gating_func"), 1)
		case "sqrtsoftplus":
			c.AddUint32(c.K("expert_gating_func"), 4)
		default:
			return fmt.Errorf("%w: unsupported expert gating function %v", ErrConfig, v)
		}
	}
	if v, ok := h.Int("head_dim"); ok {
		c.AddUint32(c.K("attention.key_length"), v)
		c.AddUint32(c.K("attention.value_length"), v)
	}
	c.AddUint32("general.file_type", int64(c.FileType))
	return nil
}

func firstPresent(m map[string]any, keys ...string) any {
	for _, k := range keys {
		if v, ok := m[k]; ok {
			return v
		}
	}
	return nil
}

// fileExists reports whether dir/name is a regular file.
func (c *Converter) fileExists(name string) bool {
	st, err := os.Stat(filepath.Join(c.Dir, name))
	return err == nil && st.Mode().IsRegular()
}

// autoConfigDefaults adds the attributes transformers' config classes compute when config.json
// lacks them (transformers 5.x, as AutoConfig.to_dict() returns them to the converter).
func autoConfigDefaults(h HParams) {
	mt, _ := h.Str("model_type")
	switch mt {
	case "llama", "mistral":
		if v, ok := h["head_dim"]; !ok || v == nil {
			hidden, ok1 := h.Int("hidden_size")
			heads, ok2 := h.Int("num_attention_heads")
			if ok1 && ok2 && heads > 0 {
				h["head_dim"] = json.Number(strconv.FormatInt(hidden/heads, 10))
			}
		}
	}
}
