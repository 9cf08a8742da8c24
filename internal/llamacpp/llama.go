//go:build llamacpp

package llamacpp

// Model-level bindings to libllama: backend init, model load and info, tokenization and logits.
// The C structs come from the real llama.h (CGO_CFLAGS from scripts/llamacpp.sh), never from
// transcribed layouts. Perplexity and KL divergence are in llama_eval.go, llama_model_quantize
// in llama_quant.go.

/*
#include <stdlib.h>
#include "llama.h"
#include "ggml-backend.h"

extern void ggufyGoLog(enum ggml_log_level level, char *text, void *ud);

static void ggufy_log_install(void) {
	llama_log_set((ggml_log_callback)ggufyGoLog, NULL);
}

// ggufy_batch_set fills the first n entries of b (one sequence id per token) in one call.
static void ggufy_batch_set(struct llama_batch *b, int32_t n, const int32_t *tok, const int32_t *pos,
		const int32_t *seq, const int8_t *out) {
	for (int32_t i = 0; i < n; i++) {
		b->token[i] = tok[i];
		b->pos[i] = pos[i];
		b->n_seq_id[i] = 1;
		b->seq_id[i][0] = seq[i];
		b->logits[i] = out[i];
	}
	b->n_tokens = n;
}

static int32_t ggufy_decode(struct llama_context *ctx, const struct llama_batch *b) {
	return llama_decode(ctx, *b);
}

static int ggufy_has_cpu(void) {
	return ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU) != NULL;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/ggufy/ggufy/gguf"
)

// Version is the llama.cpp version the harness is pinned to (llama_version()'s prefix).
const Version = "0.5.0"

var (
	// ErrNoLibrary means GGUFY_LLAMACPP_LIB is unset: run eval "$(scripts/llamacpp.sh)".
	ErrNoLibrary = errors.New("llamacpp: GGUFY_LLAMACPP_LIB is not set (eval \"$(scripts/llamacpp.sh)\")")
	// ErrClosed is returned by the methods of a closed Model.
	ErrClosed = errors.New("llamacpp: model is closed")
	// ErrVocabOnly is returned when logits are asked of a model loaded with VocabOnly.
	ErrVocabOnly = errors.New("llamacpp: model was loaded with VocabOnly")
)

var (
	initOnce sync.Once
	initErr  error
)

// DefaultCPUVariant is the ggml CPU backend Init loads unless GGUFY_LLAMACPP_CPU names another:
// the AVX2/FMA/F16C build. llama.cpp's tools load the best-scoring variant, which differs between
// machines (zen4 on the AMD EPYC the goldens were made on, haswell elsewhere) and moves logits,
// perplexity and KLD at the 1e-6..1e-4 level; any AVX2 machine runs the haswell build the same
// way, so goldens made with it hold wherever the tests run.
const DefaultCPUVariant = "haswell"

// Init initialises llama.cpp once per process: routes its log into Go (echoed to stderr only
// when GGUFY_LLAMACPP_VERBOSE is set), loads the ggml CPU backend from $GGUFY_LLAMACPP_LIB
// (libggml-cpu-$GGUFY_LLAMACPP_CPU.so, DefaultCPUVariant when unset; "best" scores all variants
// with ggml_backend_load_all_from_path as llama.cpp's tools do) and calls llama_backend_init.
// Every other function calls it; it returns the same error each time.
func Init() error {
	initOnce.Do(func() { initErr = initLlama() })
	return initErr
}

func initLlama() error {
	dir := os.Getenv("GGUFY_LLAMACPP_LIB")
	if dir == "" {
		return ErrNoLibrary
	}
	llamaLog.Lock()
	llamaLog.verbose = os.Getenv("GGUFY_LLAMACPP_VERBOSE") != ""
	llamaLog.Unlock()
	C.ggufy_log_install()
	logTake()
	variant := os.Getenv("GGUFY_LLAMACPP_CPU")
	if variant == "" {
		variant = DefaultCPUVariant
	}
	if variant == "best" {
		cdir := C.CString(dir)
		defer C.free(unsafe.Pointer(cdir))
		C.ggml_backend_load_all_from_path(cdir)
	} else {
		lib := filepath.Join(dir, "libggml-cpu-"+variant+".so")
		clib := C.CString(lib)
		defer C.free(unsafe.Pointer(clib))
		if C.ggml_backend_load(clib) == nil {
			return errors.New(withLog("llamacpp: cannot load the ggml CPU backend " + lib))
		}
	}
	if C.ggufy_has_cpu() == 0 {
		return errors.New(withLog(fmt.Sprintf("llamacpp: no ggml CPU backend could be loaded from %s", dir)))
	}
	C.llama_backend_init()
	if v := C.GoString(C.llama_version()); !strings.HasPrefix(v, Version) {
		return fmt.Errorf("llamacpp: llama_version() is %q, the harness is written for %s", v, Version)
	}
	return nil
}

// ModelOptions are llama_model_params that tests set.
type ModelOptions struct {
	VocabOnly bool // load the vocabulary only, no weights
}

// Model is a llama.cpp model (llama_model_load_from_file). It is not safe to Close while other
// methods run; the other methods may run concurrently.
type Model struct {
	path      string
	m         *C.struct_llama_model
	vocab     *C.struct_llama_vocab
	nVocab    int
	vocabOnly bool
}

// LoadModel loads a GGUF file with llama.cpp on the CPU. A failure carries llama.cpp's log.
func LoadModel(path string, opts ModelOptions) (*Model, error) {
	if err := Init(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("llamacpp: %w", err)
	}
	mp := C.llama_model_default_params()
	mp.n_gpu_layers = 0
	mp.vocab_only = C.bool(opts.VocabOnly)
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	logTake()
	m := C.llama_model_load_from_file(cpath, mp)
	if m == nil {
		return nil, errors.New(withLog("llamacpp: llama.cpp failed to load " + path))
	}
	vocab := C.llama_model_get_vocab(m)
	return &Model{path: path, m: m, vocab: vocab, nVocab: int(C.llama_vocab_n_tokens(vocab)), vocabOnly: opts.VocabOnly}, nil
}

// Close frees the model. It is safe to call more than once.
func (m *Model) Close() error {
	if m != nil && m.m != nil {
		C.llama_model_free(m.m)
		m.m, m.vocab = nil, nil
	}
	return nil
}

// Path returns the file the model was loaded from.
func (m *Model) Path() string { return m.path }

// NVocab returns the number of tokens in the vocabulary.
func (m *Model) NVocab() int { return m.nVocab }

func (m *Model) ok() error {
	if m == nil || m.m == nil {
		return ErrClosed
	}
	return nil
}

// VocabType is llama.cpp's enum llama_vocab_type.
type VocabType int

var vocabTypeNames = []string{"none", "spm", "bpe", "wpm", "ugm", "rwkv", "plamo2", "test"}

// String returns the lower-case short name ("spm", "bpe", ...).
func (v VocabType) String() string {
	if v >= 0 && int(v) < len(vocabTypeNames) {
		return vocabTypeNames[v]
	}
	return fmt.Sprintf("vocab_type(%d)", int(v))
}

// ModelInfo is what llama.cpp reports about a loaded model.
type ModelInfo struct {
	Desc      string        // llama_model_desc ("llama ?B all F32")
	NParams   uint64        // llama_model_n_params
	Size      uint64        // llama_model_size: bytes of tensor data
	FType     gguf.FileType // llama_model_ftype
	FTypeName string        // llama_ftype_name as llama.cpp spells it
	NVocab    int
	NCtxTrain int
	NEmbd     int
	NLayer    int
	NHead     int // of layer 0; 0 for a vocab-only model
	NHeadKV   int // likewise
	RopeType  int // enum llama_rope_type
	VocabType VocabType
	BOS, EOS  int32
	AddBOS    bool
	AddEOS    bool
	MetaKeys  []string          // metadata keys in llama.cpp's order
	Meta      map[string]string // metadata values as llama_model_meta_val_str renders them
}

// Info returns llama.cpp's view of the model.
func (m *Model) Info() (ModelInfo, error) {
	if err := m.ok(); err != nil {
		return ModelInfo{}, err
	}
	ft := C.llama_model_ftype(m.m)
	in := ModelInfo{
		Desc:      cString(func(b *C.char, n C.size_t) C.int32_t { return C.llama_model_desc(m.m, b, n) }),
		NParams:   uint64(C.llama_model_n_params(m.m)),
		Size:      uint64(C.llama_model_size(m.m)),
		FType:     gguf.FileType(ft),
		FTypeName: C.GoString(C.llama_ftype_name(ft)),
		NVocab:    m.nVocab,
		NCtxTrain: int(C.llama_model_n_ctx_train(m.m)),
		NEmbd:     int(C.llama_model_n_embd(m.m)),
		NLayer:    int(C.llama_model_n_layer(m.m)),
		RopeType:  int(C.llama_model_rope_type(m.m)),
		VocabType: VocabType(C.llama_vocab_type(m.vocab)),
		BOS:       int32(C.llama_vocab_bos(m.vocab)),
		EOS:       int32(C.llama_vocab_eos(m.vocab)),
		AddBOS:    bool(C.llama_vocab_get_add_bos(m.vocab)),
		AddEOS:    bool(C.llama_vocab_get_add_eos(m.vocab)),
		Meta:      map[string]string{},
	}
	if in.NLayer > 0 { // the per-layer accessors abort on a vocab-only model (no layers)
		in.NHead = int(C.llama_model_n_head(m.m))
		in.NHeadKV = int(C.llama_model_n_head_kv(m.m))
	}
	n := int(C.llama_model_meta_count(m.m))
	for i := range n {
		ci := C.int32_t(i)
		k := cString(func(b *C.char, n C.size_t) C.int32_t { return C.llama_model_meta_key_by_index(m.m, ci, b, n) })
		v := cString(func(b *C.char, n C.size_t) C.int32_t { return C.llama_model_meta_val_str_by_index(m.m, ci, b, n) })
		in.MetaKeys = append(in.MetaKeys, k)
		in.Meta[k] = v
	}
	return in, nil
}

// cString calls an snprintf-style llama.cpp function (returns the full length, writes at most
// n-1 bytes and a NUL), growing the buffer once when it was too small.
func cString(f func(*C.char, C.size_t) C.int32_t) string {
	buf := make([]byte, 256)
	for range 2 {
		n := int(f((*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf))))
		if n < 0 {
			return ""
		}
		if n < len(buf) {
			return string(buf[:n])
		}
		buf = make([]byte, n+1)
	}
	return ""
}

// cText returns a pointer to s's bytes for a C call that takes (text, len); never NULL.
func cText(s string) *C.char {
	if s == "" {
		return (*C.char)(unsafe.Pointer(&emptyText[0]))
	}
	return (*C.char)(unsafe.Pointer(unsafe.StringData(s)))
}

var emptyText = [1]byte{}

// Tokenize runs llama_tokenize: addSpecial adds BOS/EOS as the vocabulary asks, parseSpecial
// turns control-token text into those tokens.
func (m *Model) Tokenize(text string, addSpecial, parseSpecial bool) ([]int32, error) {
	if err := m.ok(); err != nil {
		return nil, err
	}
	if len(text) > math.MaxInt32-64 {
		return nil, fmt.Errorf("llamacpp: tokenize: text of %d bytes is too long", len(text))
	}
	toks := make([]int32, len(text)+16)
	for range 2 {
		n := C.llama_tokenize(m.vocab, cText(text), C.int32_t(len(text)),
			(*C.llama_token)(unsafe.Pointer(&toks[0])), C.int32_t(len(toks)), C.bool(addSpecial), C.bool(parseSpecial))
		switch {
		case n == math.MinInt32:
			return nil, errors.New("llamacpp: tokenize: too many tokens")
		case n >= 0:
			return toks[:n:n], nil
		}
		toks = make([]int32, -int(n))
	}
	return nil, errors.New("llamacpp: tokenize: token count changed between calls")
}

func (m *Model) checkTokens(toks []int32) error {
	for i, t := range toks {
		if t < 0 || int(t) >= m.nVocab {
			return fmt.Errorf("llamacpp: token %d at %d is outside the vocabulary of %d", t, i, m.nVocab)
		}
	}
	return nil
}

// TokenToPiece returns the text of one token (llama_token_to_piece with special tokens
// rendered, no space stripping), as llama-tokenize --show-tokens prints it.
func (m *Model) TokenToPiece(tok int32) (string, error) {
	if err := m.ok(); err != nil {
		return "", err
	}
	if err := m.checkTokens([]int32{tok}); err != nil {
		return "", err
	}
	buf := make([]byte, 64)
	for range 2 {
		n := int(C.llama_token_to_piece(m.vocab, C.llama_token(tok), (*C.char)(unsafe.Pointer(&buf[0])), C.int32_t(len(buf)), 0, true))
		if n >= 0 {
			return string(buf[:n]), nil
		}
		buf = make([]byte, -n)
	}
	return "", fmt.Errorf("llamacpp: token %d: piece length changed between calls", tok)
}

// Detokenize runs llama_detokenize: removeSpecial drops the BOS/EOS the vocabulary adds (and
// the leading space the SPM tokenizer inserts), unparseSpecial renders control tokens as text.
func (m *Model) Detokenize(toks []int32, removeSpecial, unparseSpecial bool) (string, error) {
	if err := m.ok(); err != nil {
		return "", err
	}
	if err := m.checkTokens(toks); err != nil {
		return "", err
	}
	if len(toks) == 0 {
		return "", nil
	}
	buf := make([]byte, 8*len(toks)+16)
	for range 2 {
		n := int(C.llama_detokenize(m.vocab, (*C.llama_token)(unsafe.Pointer(&toks[0])), C.int32_t(len(toks)),
			(*C.char)(unsafe.Pointer(&buf[0])), C.int32_t(len(buf)), C.bool(removeSpecial), C.bool(unparseSpecial)))
		if n >= 0 {
			return string(buf[:n]), nil
		}
		buf = make([]byte, -n)
	}
	return "", errors.New("llamacpp: detokenize: length changed between calls")
}

// FlashAttn selects flash attention (llama_context_params.flash_attn_type).
type FlashAttn int

// The flash attention modes; the zero value is llama.cpp's default, auto.
const (
	FlashAttnAuto FlashAttn = iota
	FlashAttnOn
	FlashAttnOff
)

func (f FlashAttn) c() (C.enum_llama_flash_attn_type, error) {
	switch f {
	case FlashAttnAuto:
		return C.LLAMA_FLASH_ATTN_TYPE_AUTO, nil
	case FlashAttnOn:
		return C.LLAMA_FLASH_ATTN_TYPE_ENABLED, nil
	case FlashAttnOff:
		return C.LLAMA_FLASH_ATTN_TYPE_DISABLED, nil
	}
	return 0, fmt.Errorf("llamacpp: invalid FlashAttn %d", int(f))
}

// ContextOptions are the llama_context_params that Logits uses; zero fields take the defaults
// given per field.
type ContextOptions struct {
	NCtx      int       // context size; 0: the number of tokens
	NBatch    int       // tokens per llama_decode; 0: all tokens in one decode
	NUBatch   int       // physical batch; 0: 512, llama.cpp's default
	Threads   int       // 0: runtime.NumCPU()
	FlashAttn FlashAttn // auto when zero
	TypeK     string    // K cache type by ggml name: "f16" (default), "f32", "q8_0", ...
	TypeV     string    // V cache type, as TypeK
}

// ctxParams are the context settings after defaults were applied.
type ctxParams struct {
	nCtx, nBatch, nUBatch, nSeq, threads int
	fa                                   FlashAttn
	typeK, typeV                         string
}

func cacheType(name string) (C.enum_ggml_type, error) {
	if name == "" {
		return C.GGML_TYPE_F16, nil
	}
	t, err := gguf.ParseType(name)
	if err != nil {
		return 0, fmt.Errorf("llamacpp: KV cache type: %w", err)
	}
	return C.enum_ggml_type(t), nil
}

func defaultThreads(n int) int {
	if n > 0 {
		return n
	}
	return runtime.NumCPU()
}

// newContext creates a llama_context with a non-unified KV cache of p.nSeq sequences.
func (m *Model) newContext(p ctxParams) (*C.struct_llama_context, error) {
	if err := m.ok(); err != nil {
		return nil, err
	}
	if m.vocabOnly {
		return nil, ErrVocabOnly
	}
	fa, err := p.fa.c()
	if err != nil {
		return nil, err
	}
	tk, err := cacheType(p.typeK)
	if err != nil {
		return nil, err
	}
	tv, err := cacheType(p.typeV)
	if err != nil {
		return nil, err
	}
	for _, v := range []int{p.nCtx, p.nBatch, p.nUBatch, p.nSeq, p.threads} {
		if v <= 0 || v > math.MaxInt32 {
			return nil, fmt.Errorf("llamacpp: invalid context parameter %d", v)
		}
	}
	cp := C.llama_context_default_params()
	cp.n_ctx = C.uint32_t(p.nCtx)
	cp.n_batch = C.uint32_t(p.nBatch)
	cp.n_ubatch = C.uint32_t(p.nUBatch)
	cp.n_seq_max = C.uint32_t(p.nSeq)
	cp.n_threads = C.int32_t(p.threads)
	cp.n_threads_batch = C.int32_t(p.threads)
	cp.flash_attn_type = fa
	cp.type_k = tk
	cp.type_v = tv
	cp.kv_unified = false
	cp.no_perf = true
	logTake()
	ctx := C.llama_init_from_model(m.m, cp)
	if ctx == nil {
		return nil, errors.New(withLog("llamacpp: llama.cpp failed to create a context for " + m.path))
	}
	return ctx, nil
}

// batch is a llama_batch allocated by llama.cpp plus Go staging arrays, so that one decode is
// one cgo call to fill and one to run.
type batch struct {
	b    C.struct_llama_batch
	cap  int
	tok  []int32
	pos  []int32
	seq  []int32
	out  []int8
	used int
}

func newBatch(n int) *batch {
	return &batch{
		b:   C.llama_batch_init(C.int32_t(n), 0, 1),
		cap: n,
		tok: make([]int32, n), pos: make([]int32, n), seq: make([]int32, n), out: make([]int8, n),
	}
}

func (b *batch) free() { C.llama_batch_free(b.b) }

func (b *batch) add(tok, pos, seq int32, out bool) {
	b.tok[b.used], b.pos[b.used], b.seq[b.used] = tok, pos, seq
	b.out[b.used] = 0
	if out {
		b.out[b.used] = 1
	}
	b.used++
}

// decode sends the staged tokens to llama_decode and empties the stage.
func (b *batch) decode(ctx *C.struct_llama_context) error {
	n := b.used
	b.used = 0
	if n == 0 {
		return nil
	}
	C.ggufy_batch_set(&b.b, C.int32_t(n), (*C.int32_t)(unsafe.Pointer(&b.tok[0])), (*C.int32_t)(unsafe.Pointer(&b.pos[0])),
		(*C.int32_t)(unsafe.Pointer(&b.seq[0])), (*C.int8_t)(unsafe.Pointer(&b.out[0])))
	logTake()
	if rc := C.ggufy_decode(ctx, &b.b); rc != 0 {
		return errors.New(withLog(fmt.Sprintf("llamacpp: llama_decode returned %d", int(rc))))
	}
	return nil
}

// logitRows returns n rows of logits starting at batch index i of the last decode, viewing
// llama.cpp's buffer (valid until the context's next decode or free).
func logitRows(ctx *C.struct_llama_context, i, n, nVocab int) ([]float32, error) {
	p := C.llama_get_logits_ith(ctx, C.int32_t(i))
	if p == nil {
		return nil, errors.New(withLog(fmt.Sprintf("llamacpp: no logits for batch index %d", i)))
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(p)), n*nVocab), nil
}

// Logits evaluates tokens as one sequence from position 0 and returns the logits of every
// position: len(tokens) rows of NVocab values.
func (m *Model) Logits(tokens []int32, opts ContextOptions) ([][]float32, error) {
	if err := m.ok(); err != nil {
		return nil, err
	}
	n := len(tokens)
	if n == 0 {
		return nil, errors.New("llamacpp: logits: no tokens")
	}
	if err := m.checkTokens(tokens); err != nil {
		return nil, err
	}
	p := ctxParams{nCtx: opts.NCtx, nBatch: opts.NBatch, nUBatch: opts.NUBatch, nSeq: 1,
		threads: defaultThreads(opts.Threads), fa: opts.FlashAttn, typeK: opts.TypeK, typeV: opts.TypeV}
	if p.nCtx == 0 {
		p.nCtx = n
	}
	if p.nCtx < n {
		return nil, fmt.Errorf("llamacpp: logits: %d tokens do not fit a context of %d", n, p.nCtx)
	}
	if p.nBatch <= 0 || p.nBatch > n {
		p.nBatch = n
	}
	if p.nUBatch == 0 {
		p.nUBatch = 512
	}
	ctx, err := m.newContext(p)
	if err != nil {
		return nil, err
	}
	defer C.llama_free(ctx)
	b := newBatch(p.nBatch)
	defer b.free()
	flat := make([]float32, n*m.nVocab)
	for start := 0; start < n; start += p.nBatch {
		end := min(n, start+p.nBatch)
		for i := start; i < end; i++ {
			b.add(tokens[i], int32(i), 0, true)
		}
		if err := b.decode(ctx); err != nil {
			return nil, err
		}
		rows, err := logitRows(ctx, 0, end-start, m.nVocab)
		if err != nil {
			return nil, err
		}
		copy(flat[start*m.nVocab:], rows)
	}
	out := make([][]float32, n)
	for i := range out {
		out[i] = flat[i*m.nVocab : (i+1)*m.nVocab : (i+1)*m.nVocab]
	}
	return out, nil
}
