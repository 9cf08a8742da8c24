//go:build llamacpp

package llamacpp

// llama_model_quantize driven the way llama-quantize drives it, and llama-quantize's imatrix
// loading. The option parsing, imatrix normalisation and the quantize.imatrix.* overrides follow
// tools/quantize/quantize.cpp and common/imatrix-loader.cpp of llama.cpp v0.5.0 (MIT License,
// Copyright (c) 2023-2024 The ggml authors), rewritten in Go.

/*
#include <stdlib.h>
#include <string.h>
#include "llama.h"

static void ggufy_kvo_str(struct llama_model_kv_override *o, const char *key, const char *val) {
	o->tag = LLAMA_KV_OVERRIDE_TYPE_STR;
	strncpy(o->key, key, sizeof(o->key) - 1);
	strncpy(o->val_str, val, 127);
	o->val_str[127] = 0;
}

static void ggufy_kvo_int(struct llama_model_kv_override *o, const char *key, int64_t val) {
	o->tag = LLAMA_KV_OVERRIDE_TYPE_INT;
	strncpy(o->key, key, sizeof(o->key) - 1);
	o->val_i64 = val;
}
*/
import "C"

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/ggufy/ggufy/gguf"
)

// quantOptions is llama-quantize's QUANT_OPTIONS table, in its order (which decides the name a
// number maps to).
var quantOptions = []struct {
	name  string
	ftype gguf.FileType
}{
	{"Q1_0", gguf.FileTypeMostlyQ1_0}, {"Q2_0", gguf.FileTypeMostlyQ2_0},
	{"Q4_0", gguf.FileTypeMostlyQ4_0}, {"Q4_1", gguf.FileTypeMostlyQ4_1},
	{"MXFP4_MOE", gguf.FileTypeMostlyMXFP4MoE},
	{"Q5_0", gguf.FileTypeMostlyQ5_0}, {"Q5_1", gguf.FileTypeMostlyQ5_1},
	{"IQ2_XXS", gguf.FileTypeMostlyIQ2_XXS}, {"IQ2_XS", gguf.FileTypeMostlyIQ2_XS},
	{"IQ2_S", gguf.FileTypeMostlyIQ2_S}, {"IQ2_M", gguf.FileTypeMostlyIQ2_M},
	{"IQ1_S", gguf.FileTypeMostlyIQ1_S}, {"IQ1_M", gguf.FileTypeMostlyIQ1_M},
	{"TQ1_0", gguf.FileTypeMostlyTQ1_0}, {"TQ2_0", gguf.FileTypeMostlyTQ2_0},
	{"Q2_K", gguf.FileTypeMostlyQ2_K}, {"Q2_K_S", gguf.FileTypeMostlyQ2_K_S},
	{"IQ3_XXS", gguf.FileTypeMostlyIQ3_XXS}, {"IQ3_S", gguf.FileTypeMostlyIQ3_S},
	{"IQ3_M", gguf.FileTypeMostlyIQ3_M}, {"Q3_K", gguf.FileTypeMostlyQ3_K_M},
	{"IQ3_XS", gguf.FileTypeMostlyIQ3_XS}, {"Q3_K_S", gguf.FileTypeMostlyQ3_K_S},
	{"Q3_K_M", gguf.FileTypeMostlyQ3_K_M}, {"Q3_K_L", gguf.FileTypeMostlyQ3_K_L},
	{"IQ4_NL", gguf.FileTypeMostlyIQ4_NL}, {"IQ4_XS", gguf.FileTypeMostlyIQ4_XS},
	{"Q4_K", gguf.FileTypeMostlyQ4_K_M}, {"Q4_K_S", gguf.FileTypeMostlyQ4_K_S},
	{"Q4_K_M", gguf.FileTypeMostlyQ4_K_M}, {"Q5_K", gguf.FileTypeMostlyQ5_K_M},
	{"Q5_K_S", gguf.FileTypeMostlyQ5_K_S}, {"Q5_K_M", gguf.FileTypeMostlyQ5_K_M},
	{"Q6_K", gguf.FileTypeMostlyQ6_K}, {"Q8_0", gguf.FileTypeMostlyQ8_0},
	{"F16", gguf.FileTypeMostlyF16}, {"BF16", gguf.FileTypeMostlyBF16},
	{"F32", gguf.FileTypeAllF32},
	{"COPY", gguf.FileTypeAllF32}, // after F32, so that 0 means F32
}

// ParseFType resolves an ftype as llama-quantize accepts it: a name from its table (case does
// not matter; "Q4_K" is Q4_K_M, "COPY" only copies) or a llama_ftype number. It returns the
// table's name for it.
func ParseFType(s string) (string, gguf.FileType, error) {
	for _, o := range quantOptions {
		if strings.EqualFold(o.name, s) {
			return o.name, o.ftype, nil
		}
	}
	if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
		for _, o := range quantOptions {
			if int(o.ftype) == n {
				return o.name, o.ftype, nil
			}
		}
	}
	return "", 0, fmt.Errorf("llamacpp: invalid ftype %q", s)
}

// TensorType is one llama-quantize --tensor-type PATTERN=TYPE: tensors whose name the
// (std::regex, ECMAScript) pattern matches are quantized to Type.
type TensorType struct {
	Pattern string // lower-cased as llama-quantize does
	Type    gguf.Type
}

// QuantizeOptions are llama-quantize's options.
type QuantizeOptions struct {
	FType              string // target, as ParseFType accepts ("Q4_K_M", "q8_0", "15")
	Threads            int    // <= 0: hardware concurrency, as llama-quantize
	AllowRequantize    bool   // --allow-requantize
	Pure               bool   // --pure
	LeaveOutputTensor  bool   // --leave-output-tensor
	OutputTensorType   string // --output-tensor-type, a ggml type name; "" keeps llama.cpp's choice
	TokenEmbeddingType string // --token-embedding-type, likewise
	TensorTypes        []TensorType
	PruneLayers        []int // --prune-layers
	// Imatrix is importance data by tensor name, already normalised (what llama-quantize hands
	// llama_model_quantize); it adds no quantize.imatrix.* metadata. Use it or ImatrixFile.
	Imatrix map[string][]float32
	// ImatrixFile is --imatrix: a GGUF imatrix or legacy .dat file, loaded with LoadImatrix,
	// which also writes llama-quantize's quantize.imatrix.* keys (file, dataset, entries_count,
	// chunks_count).
	ImatrixFile    string
	IncludeWeights []string // --include-weights: keep imatrix entries whose name contains one
	ExcludeWeights []string // --exclude-weights: drop imatrix entries whose name contains one
}

// cAlloc tracks C allocations made for one call.
type cAlloc []unsafe.Pointer

func (a *cAlloc) str(s string) *C.char {
	p := C.CString(s)
	*a = append(*a, unsafe.Pointer(p))
	return p
}

func (a *cAlloc) zeroed(n int, size uintptr) unsafe.Pointer {
	p := C.calloc(C.size_t(n), C.size_t(size))
	if p == nil {
		panic("llamacpp: out of C memory")
	}
	*a = append(*a, p)
	return p
}

func (a *cAlloc) free() {
	for _, p := range *a {
		C.free(p)
	}
	*a = nil
}

func ggmlType(name, what string) (C.enum_ggml_type, error) {
	t, err := gguf.ParseType(name)
	if err != nil {
		return 0, fmt.Errorf("llamacpp: %s: %w", what, err)
	}
	return C.enum_ggml_type(t), nil
}

// ModelQuantize runs llama_model_quantize from in to out with llama-quantize's options.
// A failure carries llama.cpp's log.
func ModelQuantize(in, out string, opts QuantizeOptions) error {
	if err := Init(); err != nil {
		return err
	}
	name, ftype, err := ParseFType(opts.FType)
	if err != nil {
		return err
	}
	if si, err := os.Stat(in); err != nil {
		return fmt.Errorf("llamacpp: quantize: %w", err)
	} else if so, err := os.Stat(out); err == nil && os.SameFile(si, so) {
		return fmt.Errorf("llamacpp: quantize: input and output files are the same: %s", in)
	}
	if len(opts.IncludeWeights) > 0 && len(opts.ExcludeWeights) > 0 {
		return errors.New("llamacpp: quantize: IncludeWeights and ExcludeWeights cannot be used together")
	}
	if opts.Imatrix != nil && opts.ImatrixFile != "" {
		return errors.New("llamacpp: quantize: set Imatrix or ImatrixFile, not both")
	}

	var ca cAlloc
	defer ca.free()
	p := C.llama_model_quantize_default_params()
	p.nthread = C.int32_t(max(0, opts.Threads))
	p.ftype = C.enum_llama_ftype(ftype)
	p.allow_requantize = C.bool(opts.AllowRequantize)
	p.pure = C.bool(opts.Pure)
	p.quantize_output_tensor = C.bool(!opts.LeaveOutputTensor)
	p.only_copy = C.bool(name == "COPY")
	if opts.OutputTensorType != "" {
		if p.output_tensor_type, err = ggmlType(opts.OutputTensorType, "output tensor type"); err != nil {
			return err
		}
	}
	if opts.TokenEmbeddingType != "" {
		if p.token_embedding_type, err = ggmlType(opts.TokenEmbeddingType, "token embedding type"); err != nil {
			return err
		}
	}

	// importance matrix, as prepare_imatrix() and main() of llama-quantize
	entries := opts.Imatrix
	var im *ImatrixData
	if opts.ImatrixFile != "" {
		if im, err = LoadImatrix(opts.ImatrixFile); err != nil {
			return err
		}
		entries = im.Entries
	}
	entries = filterImatrix(entries, opts.IncludeWeights, opts.ExcludeWeights)
	if len(entries) > 0 {
		names := make([]string, 0, len(entries))
		for k, v := range entries {
			if k == "" || len(v) == 0 {
				return fmt.Errorf("llamacpp: quantize: imatrix entry %q has %d values", k, len(v))
			}
			names = append(names, k)
		}
		slices.Sort(names)
		arr := unsafe.Slice((*C.struct_llama_model_imatrix_data)(ca.zeroed(len(names)+1, C.sizeof_struct_llama_model_imatrix_data)), len(names)+1)
		for i, k := range names {
			v := entries[k]
			data := unsafe.Slice((*float32)(ca.zeroed(len(v), 4)), len(v))
			copy(data, v)
			arr[i].name = ca.str(k)
			arr[i].data = (*C.float)(unsafe.Pointer(&data[0]))
			arr[i].size = C.size_t(len(v))
		}
		p.imatrix = &arr[0]
		if im != nil {
			kvo := unsafe.Slice((*C.struct_llama_model_kv_override)(ca.zeroed(5, C.sizeof_struct_llama_model_kv_override)), 5)
			n := 0
			C.ggufy_kvo_str(&kvo[n], ca.str("quantize.imatrix.file"), ca.str(opts.ImatrixFile))
			n++
			if len(im.Datasets) > 0 {
				C.ggufy_kvo_str(&kvo[n], ca.str("quantize.imatrix.dataset"), ca.str(im.Datasets[0]))
				n++
			}
			C.ggufy_kvo_int(&kvo[n], ca.str("quantize.imatrix.entries_count"), C.int64_t(len(entries)))
			n++
			if im.ChunkCount > 0 {
				C.ggufy_kvo_int(&kvo[n], ca.str("quantize.imatrix.chunks_count"), C.int64_t(im.ChunkCount))
			}
			p.kv_overrides = &kvo[0]
		}
	}
	if len(opts.TensorTypes) > 0 {
		tt := unsafe.Slice((*C.struct_llama_model_tensor_override)(ca.zeroed(len(opts.TensorTypes)+1, C.sizeof_struct_llama_model_tensor_override)), len(opts.TensorTypes)+1)
		for i, o := range opts.TensorTypes {
			if o.Pattern == "" || !o.Type.Valid() {
				return fmt.Errorf("llamacpp: quantize: invalid tensor type override %q=%s", o.Pattern, o.Type)
			}
			tt[i].pattern = ca.str(strings.ToLower(o.Pattern))
			tt[i]._type = C.enum_ggml_type(o.Type)
		}
		tt[len(opts.TensorTypes)]._type = C.GGML_TYPE_COUNT
		p.tt_overrides = &tt[0]
	}
	if len(opts.PruneLayers) > 0 {
		layers := slices.Clone(opts.PruneLayers)
		slices.Sort(layers)
		layers = slices.Compact(layers)
		if layers[0] < 0 || layers[len(layers)-1] > math.MaxInt32 {
			return fmt.Errorf("llamacpp: quantize: invalid layer to prune in %v", opts.PruneLayers)
		}
		pl := unsafe.Slice((*C.int32_t)(ca.zeroed(len(layers)+1, 4)), len(layers)+1)
		for i, l := range layers {
			pl[i] = C.int32_t(l)
		}
		pl[len(layers)] = -1
		p.prune_layers = &pl[0]
	}

	cin, cout := ca.str(in), ca.str(out)
	logTake()
	if rc := C.llama_model_quantize(cin, cout, &p); rc != 0 {
		return errors.New(withLog(fmt.Sprintf("llamacpp: llama_model_quantize %s -> %s as %s failed (%d)", in, out, name, uint32(rc))))
	}
	return nil
}

// filterImatrix applies --include-weights / --exclude-weights (substring matches).
func filterImatrix(e map[string][]float32, include, exclude []string) map[string][]float32 {
	if len(include) == 0 && len(exclude) == 0 {
		return e
	}
	out := map[string][]float32{}
	for k, v := range e {
		keep := len(include) == 0
		for _, s := range include {
			keep = keep || strings.Contains(k, s)
		}
		for _, s := range exclude {
			keep = keep && !strings.Contains(k, s)
		}
		if keep {
			out[k] = v
		}
	}
	return out
}

// ImatrixData is an importance matrix as llama-quantize holds it after load_imatrix().
type ImatrixData struct {
	Entries    map[string][]float32 // normalised: sums / counts (per expert), 1 where a count is 0
	Datasets   []string
	ChunkCount int  // imatrix.chunk_count (or the legacy trailer's call count)
	ChunkSize  int  // imatrix.chunk_size (0 for legacy files)
	Legacy     bool // the file is the legacy .dat format
}

// LoadImatrix reads a GGUF imatrix (tensors NAME.in_sum2 and NAME.counts) or, when the file does
// not start with the GGUF magic, a legacy .dat file, and normalises it as llama-quantize does.
func LoadImatrix(path string) (*ImatrixData, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("llamacpp: imatrix: %w", err)
	}
	if strings.HasPrefix(string(b[:min(len(b), 4)]), gguf.Magic) {
		f, err := gguf.NewReader(bytes.NewReader(b), int64(len(b)), path)
		if err != nil {
			return nil, fmt.Errorf("llamacpp: imatrix: %w", err)
		}
		return imatrixGGUF(f)
	}
	d, err := ParseLegacyImatrix(b)
	if err != nil {
		return nil, fmt.Errorf("llamacpp: imatrix %s: %w", path, err)
	}
	return d, nil
}

func imatrixGGUF(f *gguf.File) (*ImatrixData, error) {
	fail := func(format string, args ...any) (*ImatrixData, error) {
		return nil, fmt.Errorf("llamacpp: imatrix %s: "+format, append([]any{f.Name}, args...)...)
	}
	if len(f.Tensors) < 1 {
		return fail("no data")
	}
	d := &ImatrixData{Entries: map[string][]float32{}}
	ds, hasDS := f.Meta.Get("imatrix.datasets")
	if a, ok := ds.Array(); ok && a.Elem == gguf.ValueString {
		d.Datasets, _ = a.Values.([]string)
	}
	u32 := func(key string) (int, bool, error) {
		v, ok := f.Meta.Get(key)
		if !ok {
			return 0, false, nil
		}
		if v.Type() != gguf.ValueUint32 {
			return 0, true, fmt.Errorf("llamacpp: imatrix %s: %s is %s, not UINT32", f.Name, key, v.Type())
		}
		return int(v.Any().(uint32)), true, nil
	}
	cc, hasCC, err := u32("imatrix.chunk_count")
	if err != nil {
		return nil, err
	}
	cs, hasCS, err := u32("imatrix.chunk_size")
	if err != nil {
		return nil, err
	}
	if !hasDS || !hasCC || !hasCS {
		return fail("missing imatrix metadata")
	}
	d.ChunkCount, d.ChunkSize = cc, cs

	type pair struct{ sums, counts int }
	byName := map[string]*pair{}
	for i, t := range f.Tensors {
		var name string
		var isSums bool
		switch {
		case t.Name == "":
			continue
		case strings.HasSuffix(t.Name, ".in_sum2"):
			name, isSums = strings.TrimSuffix(t.Name, ".in_sum2"), true
		case strings.HasSuffix(t.Name, ".counts"):
			name = strings.TrimSuffix(t.Name, ".counts")
		default:
			continue
		}
		pr := byName[name]
		if pr == nil {
			pr = &pair{-1, -1}
			byName[name] = pr
		}
		if isSums {
			pr.sums = i
		} else {
			pr.counts = i
		}
	}
	f32 := func(i int) ([]float32, error) {
		b, err := f.TensorData(i)
		if err != nil {
			return nil, err
		}
		v := make([]float32, len(b)/4)
		for j := range v {
			v[j] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*j:]))
		}
		return v, nil
	}
	for name, pr := range byName {
		if pr.sums < 0 || pr.counts < 0 {
			return fail("mismatched sums and counts for %s", name)
		}
		if f.Tensors[pr.sums].Type != gguf.TypeF32 || f.Tensors[pr.counts].Type != gguf.TypeF32 {
			return fail("sums and counts for %s must be F32", name)
		}
		sums, err := f32(pr.sums)
		if err != nil {
			return nil, err
		}
		cf, err := f32(pr.counts)
		if err != nil {
			return nil, err
		}
		if len(cf) == 0 || len(sums) < len(cf) {
			return fail("%s has %d sums for %d counts", name, len(sums), len(cf))
		}
		// load_imatrix(): per-expert counts (rounded with lround) divide each slice of sums
		ne0 := len(sums) / len(cf)
		e := make([]float32, len(sums))
		for j, c := range cf {
			count := float32(int64(math.Round(float64(c))))
			for i := range ne0 {
				if count > 0 {
					e[j*ne0+i] = sums[j*ne0+i] / count
				} else {
					e[j*ne0+i] = 1
				}
			}
		}
		d.Entries[name] = e
	}
	return d, nil
}

// ParseLegacyImatrix parses the legacy .dat imatrix format (int32 entry count; per entry an
// int32-length name, int32 ncall, int32 nval and nval float32 sums; an optional trailer with the
// chunk count and a dataset name) and normalises it as llama-quantize does (sums / ncall).
func ParseLegacyImatrix(b []byte) (*ImatrixData, error) {
	p := 0
	i32 := func() (int32, bool) {
		if len(b)-p < 4 {
			return 0, false
		}
		v := int32(binary.LittleEndian.Uint32(b[p:]))
		p += 4
		return v, true
	}
	n, ok := i32()
	if !ok || n < 1 {
		return nil, errors.New("no data in legacy imatrix")
	}
	d := &ImatrixData{Entries: map[string][]float32{}, Legacy: true}
	for i := range int(n) {
		l, ok := i32()
		if !ok || l < 0 || int(l) > len(b)-p {
			return nil, fmt.Errorf("failed reading name for entry %d", i+1)
		}
		name := string(b[p : p+int(l)])
		if z := strings.IndexByte(name, 0); z >= 0 {
			name = name[:z]
		}
		p += int(l)
		ncall, ok1 := i32()
		nval, ok2 := i32()
		if !ok1 || !ok2 || nval < 1 {
			return nil, fmt.Errorf("failed reading number of values for entry %d", i)
		}
		if int64(nval)*4 > int64(len(b)-p) {
			return nil, fmt.Errorf("failed reading data for entry %d", i)
		}
		e := make([]float32, nval)
		for j := range e {
			e[j] = math.Float32frombits(binary.LittleEndian.Uint32(b[p+4*j:]))
		}
		p += 4 * int(nval)
		if ncall > 0 {
			for j := range e {
				e[j] /= float32(ncall)
			}
		}
		d.Entries[name] = e
	}
	if p < len(b) {
		// the trailer is optional and read leniently, like the std::ifstream reads in llama.cpp
		var cc [4]byte
		k := copy(cc[:], b[p:])
		p += k
		d.ChunkCount = int(int32(binary.LittleEndian.Uint32(cc[:])))
		if l, ok := i32(); ok && l > 0 && int(l) <= len(b)-p {
			ds := string(b[p : p+int(l)])
			if z := strings.IndexByte(ds, 0); z >= 0 {
				ds = ds[:z]
			}
			d.Datasets = append(d.Datasets, ds)
		}
	}
	return d, nil
}
