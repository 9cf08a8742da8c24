package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"unsafe"

	"github.com/ggufy/ggufy/archmap"
	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/quantize"
	"github.com/ggufy/ggufy/runtime/kernels"
	"github.com/ggufy/ggufy/tokenizer"
)

// Sentinel errors callers can branch on.
var (
	// ErrUnsupportedArch means the model's architecture has no graph in this runtime.
	ErrUnsupportedArch = errors.New("runtime: unsupported architecture")
	// ErrTensor means a tensor the architecture needs is missing or has the wrong shape or type.
	ErrTensor = errors.New("runtime: bad tensor")
)

// Tensor is one weight tensor: its GGUF name, type, shape in ggml order (Dims[0] is the row
// length) and its bytes, read in place (a memory map of the GGUF file, or float32 values decoded
// from a checkpoint).
type Tensor struct {
	Name string
	Type gguf.Type
	Dims []int
	Data []byte
}

// Cols is the row length (ne0).
func (t *Tensor) Cols() int { return t.Dims[0] }

// Rows is the number of rows of one matrix (ne1).
func (t *Tensor) Rows() int {
	if len(t.Dims) < 2 {
		return 1
	}
	return t.Dims[1]
}

// matrix returns the matrix of expert e (0 for a 2-D tensor).
func (t *Tensor) matrix(e int) kernels.Matrix {
	rows := t.Rows()
	n := len(t.Data) / max(1, t.numMatrices())
	return kernels.Matrix{Type: t.Type, Rows: rows, Cols: t.Cols(), Data: t.Data[e*n : (e+1)*n]}
}

func (t *Tensor) numMatrices() int {
	n := 1
	for _, d := range t.Dims[min(2, len(t.Dims)):] {
		n *= d
	}
	return n
}

// row returns row r of a 2-D tensor as float32 values (ggml_get_rows: dequantized).
func (t *Tensor) row(dst []float32, r int) error {
	rs, err := t.Type.RowSize(int64(t.Cols()))
	if err != nil {
		return err
	}
	return quantize.Dequantize(t.Type, dst[:t.Cols()], t.Data[r*int(rs):(r+1)*int(rs)])
}

// Model is a loaded model: its weights, hyperparameters, tokenizer and the graph of its family.
// A Model is read-only once loaded and may be shared by several Sessions.
type Model struct {
	// Arch is the GGUF architecture (general.architecture).
	Arch string
	// Path is the file or directory the model was loaded from.
	Path string
	// Meta is the GGUF metadata (for a checkpoint directory, the metadata archmap's converter
	// would write at F32).
	Meta *gguf.Metadata
	// HParams are the hyperparameters as llama.cpp reads them.
	HParams *HParams
	// Tokenizer gives llama.cpp's token ids for this vocabulary.
	Tokenizer *tokenizer.Tokenizer
	// Tensors are the weights by GGUF name.
	Tensors map[string]*Tensor

	fam     *family
	nVocab  int
	closer  io.Closer
	tokEmbd *Tensor
	posEmbd *Tensor // gpt2
	output  *Tensor
	outB    []float32
	outNorm []float32
	outNrmB []float32
	layers  []layer
	// rope factors: rope_freqs (llama3) or the long and short factors (longrope)
	ropeFreqs, ropeLong, ropeShort []float32
	// size of the weights in bytes
	weightBytes int64
}

// layer holds one block's tensors; a family uses the ones its graph needs.
type layer struct {
	attnNorm, attnNormB []float32
	attnPostNorm        []float32
	qNorm, kNorm        []float32
	wq, wk, wv, wqkv    *Tensor
	bq, bk, bv, bqkv    []float32
	wo                  *Tensor
	bo                  []float32

	ffnNorm, ffnNormB, ffnPostNorm []float32
	ffnGate, ffnUp, ffnDown        *Tensor
	ffnGateB, ffnUpB, ffnDownB     []float32

	gateInp, gateExps, upExps, downExps *Tensor
	gateInpShexp                        *Tensor
	gateShexp, upShexp, downShexp       *Tensor
}

// NVocab is the number of logits per token.
func (m *Model) NVocab() int { return m.nVocab }

// Size is the number of bytes of weight data.
func (m *Model) Size() int64 { return m.weightBytes }

// Close releases the model's memory map.
func (m *Model) Close() error {
	if m.closer != nil {
		err := m.closer.Close()
		m.closer = nil
		return err
	}
	return nil
}

// Load opens a GGUF file (single or the first of a split) or a Hugging Face checkpoint
// directory. A directory is converted in memory at F32 through archmap, exactly as
// `ggufy convert --outtype f32` would write it.
func Load(path string) (*Model, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("runtime: %w", err)
	}
	if fi.IsDir() {
		return loadDir(path)
	}
	return loadGGUF(path)
}

func loadGGUF(path string) (*Model, error) {
	gm, err := gguf.OpenModel(path)
	if err != nil {
		return nil, fmt.Errorf("runtime: %w", err)
	}
	m := &Model{Path: path, Meta: gm.Meta, Tensors: make(map[string]*Tensor, len(gm.Tensors)), closer: gm}
	for i, ti := range gm.Tensors {
		data, err := gm.TensorData(i)
		if err != nil {
			gm.Close()
			return nil, fmt.Errorf("runtime: tensor %q: %w", ti.Name, err)
		}
		dims := make([]int, len(ti.Dims))
		for j, d := range ti.Dims {
			dims[j] = int(d)
		}
		m.Tensors[ti.Name] = &Tensor{Name: ti.Name, Type: ti.Type, Dims: dims, Data: data}
	}
	if err := m.init(); err != nil {
		gm.Close()
		return nil, err
	}
	return m, nil
}

func loadDir(dir string) (*Model, error) {
	c, err := archmap.Open(dir, gguf.FileTypeAllF32, archmap.Options{})
	if err != nil {
		return nil, fmt.Errorf("runtime: %w", err)
	}
	defer c.Close()
	m := &Model{Path: dir, Meta: c.Meta, Tensors: make(map[string]*Tensor, len(c.Tensors))}
	for _, t := range c.Tensors {
		n := t.NumElements()
		if n <= 0 || n > 1<<34 {
			return nil, fmt.Errorf("runtime: tensor %q: %d elements", t.Name, n)
		}
		vals := make([]float32, n)
		if err := t.ReadRows(vals, 0, t.NumRows()); err != nil {
			return nil, fmt.Errorf("runtime: %w", err)
		}
		d := t.Dims()
		dims := make([]int, len(d))
		for j, v := range d {
			dims[j] = int(v)
		}
		data := unsafe.Slice((*byte)(unsafe.Pointer(&vals[0])), 4*len(vals))
		m.Tensors[t.Name] = &Tensor{Name: t.Name, Type: gguf.TypeF32, Dims: dims, Data: data}
	}
	if err := m.init(); err != nil {
		return nil, err
	}
	return m, nil
}

// init reads the architecture, hyperparameters, tokenizer and the family's tensors.
func (m *Model) init() error {
	arch := m.Meta.GetString("general.architecture")
	if arch == "" {
		return errors.New("runtime: metadata \"general.architecture\" missing")
	}
	m.Arch = arch
	fam, ok := families[arch]
	if !ok {
		return fmt.Errorf("%w: %q (supported: %v)", ErrUnsupportedArch, arch, SupportedArchs())
	}
	m.fam = fam
	hp, r, err := readHParams(m.Meta, arch)
	if err != nil {
		return err
	}
	hp.RopeType = fam.ropeType
	m.HParams = hp
	tok, err := tokenizer.FromGGUF(m.Meta)
	if err != nil {
		return fmt.Errorf("runtime: tokenizer: %w", err)
	}
	m.Tokenizer = tok
	m.nVocab = tok.NumTokens()
	if err := fam.hparams(hp, r); err != nil {
		return err
	}
	if r.err != nil {
		return r.err
	}
	l := &loader{m: m}
	m.layers = make([]layer, hp.NLayer)
	fam.tensors(m, l)
	if l.err != nil {
		return l.err
	}
	for _, t := range m.Tensors {
		m.weightBytes += int64(len(t.Data))
	}
	return nil
}

// SupportedArchs lists the GGUF architectures the runtime runs.
func SupportedArchs() []string {
	var names []string
	for n := range families {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// family is one model family's graph: the architecture-specific hyperparameters
// (load_arch_hparams), tensors (load_arch_tensors) and forward pass (build_arch_graph).
type family struct {
	arch     string
	ropeType int
	// swaRope: sliding-window layers use rope.freq_base_swa (get_rope_freq_base)
	swaRope bool
	// ropeFactors: the graph passes model.get_rope_factors to ggml_rope_ext
	ropeFactors bool
	hparams     func(h *HParams, r *metaReader) error
	tensors     func(m *Model, l *loader)
	forward     func(s *Session, b *ubatch) error
}

var families = map[string]*family{}

func register(f *family) { families[f.arch] = f }

// loader looks tensors up by name and checks their shapes; the first error sticks.
type loader struct {
	m   *Model
	err error
}

func (l *loader) fail(err error) {
	if l.err == nil {
		l.err = err
	}
}

// get returns the tensor name with shape dims (ggml order; trailing 1s ignored), or nil when it
// is absent and optional.
func (l *loader) get(name string, required bool, dims ...int) *Tensor {
	t, ok := l.m.Tensors[name]
	if !ok {
		if required {
			l.fail(fmt.Errorf("%w: %q missing", ErrTensor, name))
		}
		return nil
	}
	got := t.Dims
	for len(got) > len(dims) && got[len(got)-1] == 1 {
		got = got[:len(got)-1]
	}
	want := dims
	for len(want) > len(got) && want[len(want)-1] == 1 {
		want = want[:len(want)-1]
	}
	if !slices.Equal(got, want) {
		l.fail(fmt.Errorf("%w: %q has shape %v, want %v", ErrTensor, name, t.Dims, dims))
		return nil
	}
	return t
}

// weight returns a matrix (2-D, or 3-D for experts) the matrix kernels can multiply.
func (l *loader) weight(name string, required bool, dims ...int) *Tensor {
	t := l.get(name, required, dims...)
	if t == nil {
		return nil
	}
	if !kernels.Supported(t.Type) {
		l.fail(fmt.Errorf("%w: %q: no matrix kernel for type %s", ErrTensor, name, t.Type))
		return nil
	}
	if _, _, err := kernels.RowSizes(t.Type, t.Cols()); err != nil {
		l.fail(fmt.Errorf("%w: %q: %v", ErrTensor, name, err))
		return nil
	}
	need, err := t.Type.RowSize(int64(t.Cols()))
	if err != nil || int64(len(t.Data)) != need*int64(t.Rows())*int64(t.numMatrices()) {
		l.fail(fmt.Errorf("%w: %q: %d bytes of data for shape %v", ErrTensor, name, len(t.Data), t.Dims))
		return nil
	}
	return t
}

// vec returns a 1-D tensor of n values as float32 (norm weights, biases, rope factors).
func (l *loader) vec(name string, required bool, n int) []float32 {
	t := l.get(name, required, n)
	if t == nil {
		return nil
	}
	v := make([]float32, n)
	if err := quantize.Dequantize(t.Type, v, t.Data); err != nil {
		l.fail(fmt.Errorf("%w: %q: %v", ErrTensor, name, err))
		return nil
	}
	return v
}

// tokenEmbd loads token_embd.weight (any type: rows are dequantized on lookup).
func (l *loader) tokenEmbd(nEmbd int) *Tensor {
	t := l.get("token_embd.weight", true, nEmbd, l.m.nVocab)
	if t != nil && !quantize.Supported(t.Type) && t.Type != gguf.TypeF32 && t.Type != gguf.TypeF16 && t.Type != gguf.TypeBF16 {
		l.fail(fmt.Errorf("%w: %q: cannot decode type %s", ErrTensor, t.Name, t.Type))
	}
	return t
}

// outputOrTied loads output.weight, or uses the token embeddings when it is absent (tied
// embeddings: TENSOR_DUPLICATED in llama.cpp).
func (l *loader) outputOrTied(nEmbd int) *Tensor {
	if t := l.weight("output.weight", false, nEmbd, l.m.nVocab); t != nil || l.err != nil {
		return t
	}
	return l.weight("token_embd.weight", true, nEmbd, l.m.nVocab)
}

func blk(il int, name string) string { return fmt.Sprintf("blk.%d.%s", il, name) }

// qkv loads the attention projections: fused attn_qkv or separate attn_q/k/v (create_tensor_qkv),
// with optional biases.
func (l *loader) qkv(ly *layer, il, nEmbd, nQ, nK, nV int) {
	if t := l.weight(blk(il, "attn_qkv.weight"), false, nEmbd, nQ+nK+nV); t != nil {
		ly.wqkv = t
		ly.bqkv = l.vec(blk(il, "attn_qkv.bias"), false, nQ+nK+nV)
		if ly.bqkv == nil {
			// fused weights with separate biases (legacy GGUFs): ggml_concat of the three
			bq := l.vec(blk(il, "attn_q.bias"), false, nQ)
			bk := l.vec(blk(il, "attn_k.bias"), false, nK)
			bv := l.vec(blk(il, "attn_v.bias"), false, nV)
			if bq != nil && bk != nil && bv != nil {
				ly.bqkv = append(append(bq, bk...), bv...)
			}
		}
		return
	}
	ly.wq = l.weight(blk(il, "attn_q.weight"), true, nEmbd, nQ)
	ly.wk = l.weight(blk(il, "attn_k.weight"), true, nEmbd, nK)
	ly.wv = l.weight(blk(il, "attn_v.weight"), true, nEmbd, nV)
	ly.bq = l.vec(blk(il, "attn_q.bias"), false, nQ)
	ly.bk = l.vec(blk(il, "attn_k.bias"), false, nK)
	ly.bv = l.vec(blk(il, "attn_v.bias"), false, nV)
}
