package convert

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ggufy/ggufy/archmap"
	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/internal/half"
	"github.com/ggufy/ggufy/quantize"
)

// Input is a model to quantize: its metadata and tensors, whatever they come from (a GGUF file
// or a conversion plan).
type Input struct {
	Meta    *gguf.Metadata
	Tensors []*InputTensor
	close   func() error
}

// Close releases the input's files.
func (in *Input) Close() error {
	if in.close != nil {
		return in.close()
	}
	return nil
}

// InputTensor is one tensor of an Input, in its stored type.
type InputTensor struct {
	Name string
	Dims []uint64
	Type gguf.Type
	// Rows decodes rows [r0, r0+n) to float32.
	Rows func(dst []float32, r0, n int) error
	// RawRows returns the stored bytes of rows [r0, r0+n).
	RawRows func(r0, n int) ([]byte, error)
}

func (t *InputTensor) info() gguf.TensorInfo {
	return gguf.TensorInfo{Name: t.Name, Dims: t.Dims, Type: t.Type}
}

// OpenGGUFInput opens a GGUF model (any shard of a split model) as a quantization input.
func OpenGGUFInput(path string) (*Input, error) {
	m, err := gguf.OpenModel(path)
	if err != nil {
		return nil, err
	}
	in := &Input{Meta: m.Meta, close: m.Close}
	for i, t := range m.Tensors {
		i, t := i, t
		it := &InputTensor{Name: t.Name, Dims: t.Dims, Type: t.Type}
		rowSize, err := t.Type.RowSize(int64(t.Dims[0]))
		if err != nil {
			m.Close()
			return nil, err
		}
		it.RawRows = func(r0, n int) ([]byte, error) {
			data, err := m.TensorData(i)
			if err != nil {
				return nil, err
			}
			return data[int64(r0)*rowSize : int64(r0+n)*rowSize], nil
		}
		file := m.Files[t.File]
		it.Rows = func(dst []float32, r0, n int) error {
			src, err := it.RawRows(r0, n)
			if err != nil {
				return err
			}
			err = quantize.Dequantize(t.Type, dst, src)
			// Each row is decoded once: its mapped pages need not stay resident.
			file.Release(src)
			return err
		}
		in.Tensors = append(in.Tensors, it)
	}
	return in, nil
}

// PlanInput presents a conversion plan as the GGUF the converter would write for its file type
// (the intermediate file of "convert, then llama-quantize"), without writing it.
func PlanInput(p *archmap.Converter) *Input {
	p.Ckpt.ReleaseAfterRead()
	in := &Input{Meta: p.Meta, close: p.Close}
	for _, t := range p.Tensors {
		t := t
		typ := p.OutType(t, p.FileType)
		it := &InputTensor{Name: t.Name, Dims: t.Dims(), Type: typ}
		rowLen := t.RowLen()
		it.Rows = func(dst []float32, r0, n int) error {
			if err := t.ReadRows(dst, r0, n); err != nil {
				return err
			}
			return roundTo(typ, dst, rowLen)
		}
		it.RawRows = func(r0, n int) ([]byte, error) {
			f := make([]float32, n*rowLen)
			if err := t.ReadRows(f, r0, n); err != nil {
				return nil, err
			}
			size, _ := typ.RowSize(int64(rowLen))
			out := make([]byte, int(size)*n)
			if err := quantize.Quantize(typ, out, f, rowLen, nil); err != nil {
				return nil, err
			}
			return out, nil
		}
		in.Tensors = append(in.Tensors, it)
	}
	return in
}

// roundTo rounds values to what type t stores (the intermediate file's precision).
func roundTo(t gguf.Type, v []float32, rowLen int) error {
	switch t {
	case gguf.TypeF32:
	case gguf.TypeF16:
		for i, x := range v {
			v[i] = half.RoundF16(x)
		}
	case gguf.TypeBF16:
		for i, x := range v {
			v[i] = half.BF16ToF32(half.F32ToBF16(x))
		}
	default:
		size, err := t.RowSize(int64(rowLen))
		if err != nil {
			return err
		}
		buf := make([]byte, int(size)*(len(v)/rowLen))
		if err := quantize.Quantize(t, buf, v, rowLen, nil); err != nil {
			return err
		}
		return quantize.Dequantize(t, v, buf)
	}
	return nil
}

// QuantizeOptions are llama-quantize's options.
type QuantizeOptions struct {
	Params quantize.Params
	// Imatrix, with ImatrixPath the name llama-quantize records in quantize.imatrix.file.
	Imatrix        *quantize.Imatrix
	ImatrixPath    string
	IncludeWeights []string
	ExcludeWeights []string
	Options
}

// Plan is the outcome of type selection: the output metadata and tensors.
type QuantPlan struct {
	Meta    *gguf.Metadata
	Sources []*Source
	Choices []quantize.Choice
	Names   []string
}

// PlanQuantize chooses every tensor's type and builds the output metadata exactly as
// llama_model_quantize does.
func PlanQuantize(in *Input, opts QuantizeOptions) (*QuantPlan, error) {
	p := opts.Params
	info, err := quantize.ModelInfoFromMeta(in.Meta)
	if err != nil {
		return nil, err
	}
	weights, err := imatrixWeights(opts)
	if err != nil {
		return nil, err
	}
	p.HasImatrix = weights != nil
	byName := map[string]*InputTensor{}
	names := make([]string, 0, len(in.Tensors))
	for _, t := range in.Tensors {
		byName[t.Name] = t
		names = append(names, t.Name)
	}
	quantize.SortTensors(names)
	descs := make([]quantize.TensorDesc, len(names))
	for i, n := range names {
		t := byName[n]
		descs[i] = quantize.TensorDesc{Name: n, Dims: t.Dims, Type: t.Type}
	}
	choices, err := quantize.ChooseTypes(info, descs, p)
	if err != nil {
		return nil, err
	}
	meta := in.Meta.Clone()
	// gguf_set_kv copies the input's keys; gguf_set_val_u32 then moves these two to the end.
	meta.Delete("general.quantization_version")
	meta.Set("general.quantization_version", gguf.Uint32(2))
	meta.Delete("general.file_type")
	meta.Set("general.file_type", gguf.Uint32(uint32(p.FileType)))
	meta.Delete(gguf.KeySplitNo)
	meta.Delete(gguf.KeySplitCount)
	meta.Delete(gguf.KeySplitTensorsCount)
	if weights != nil {
		setOverride := func(key string, v gguf.Value) { meta.Delete(key); meta.Set(key, v) }
		setOverride("quantize.imatrix.file", gguf.String(truncate127(opts.ImatrixPath)))
		if len(opts.Imatrix.Datasets) > 0 {
			setOverride("quantize.imatrix.dataset", gguf.String(truncate127(opts.Imatrix.Datasets[0])))
		}
		setOverride("quantize.imatrix.entries_count", gguf.Uint32(uint32(len(weights))))
		if opts.Imatrix.ChunkCount > 0 {
			setOverride("quantize.imatrix.chunks_count", gguf.Uint32(uint32(opts.Imatrix.ChunkCount)))
		}
	}
	plan := &QuantPlan{Meta: meta, Choices: choices, Names: names}
	for i, n := range names {
		t, c := byName[n], choices[i]
		src := &Source{Info: gguf.TensorInfo{Name: n, Dims: t.Dims, Type: c.Type}}
		if !c.Quantize {
			src.RawRows = t.RawRows
			plan.Sources = append(plan.Sources, src)
			continue
		}
		if t.Type.IsQuantized() && !p.AllowRequantize {
			return nil, fmt.Errorf("quantize: tensor %s: requantizing from type %s is disabled (use --allow-requantize)", n, t.Type)
		}
		src.Rows = t.Rows
		if weights != nil {
			w, ok := weights[n]
			ne2 := uint64(1)
			if len(t.Dims) > 2 {
				ne2 = t.Dims[2]
			}
			switch {
			case !ok:
			case uint64(len(w)) == t.Dims[0]*ne2:
				src.Imatrix = w
				if len(t.Dims) > 1 {
					src.RowsPerImatrix = int(t.Dims[1])
				}
			case n != "token_embd.weight" && n != "per_layer_token_embd.weight":
				return nil, fmt.Errorf("quantize: imatrix size %d is different from tensor size %d for %s", len(w), t.Dims[0]*ne2, n)
			}
		}
		if src.Imatrix == nil && c.RequiresImatrix {
			return nil, fmt.Errorf("%w: missing importance matrix for tensor %s in a very low-bit quantization (%s)", quantize.ErrNeedImatrix, n, c.Type)
		}
		plan.Sources = append(plan.Sources, src)
	}
	return plan, nil
}

func truncate127(s string) string {
	if len(s) > 127 {
		return s[:127]
	}
	return s
}

// imatrixWeights loads and filters the importance matrix (prepare_imatrix).
func imatrixWeights(opts QuantizeOptions) (map[string][]float32, error) {
	if opts.Imatrix == nil {
		return nil, nil
	}
	if !opts.Imatrix.Legacy && !opts.Imatrix.HasMetadata {
		return nil, errors.New("quantize: missing imatrix metadata")
	}
	w := opts.Imatrix.Weights()
	for _, ex := range opts.ExcludeWeights {
		for k := range w {
			if strings.Contains(k, ex) {
				delete(w, k)
			}
		}
	}
	if len(opts.IncludeWeights) > 0 {
		keep := map[string][]float32{}
		for _, inc := range opts.IncludeWeights {
			for k, v := range w {
				if strings.Contains(k, inc) {
					keep[k] = v
				}
			}
		}
		w = keep
	}
	if len(w) == 0 {
		return nil, nil
	}
	for name, v := range w {
		for _, f := range v {
			if f != f || f > 3.4e38 || f < -3.4e38 {
				return nil, fmt.Errorf("quantize: imatrix contains non-finite value for %s", name)
			}
		}
	}
	return w, nil
}

// QuantizeFile quantizes the GGUF at in (any shard of a split model) to out as
// llama_model_quantize does. It returns the files written.
func QuantizeFile(ctx context.Context, inPath, out string, opts QuantizeOptions) ([]string, error) {
	in, err := OpenGGUFInput(inPath)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	return QuantizeInput(ctx, in, out, opts)
}

// QuantizeInput quantizes any Input to out.
func QuantizeInput(ctx context.Context, in *Input, out string, opts QuantizeOptions) ([]string, error) {
	plan, err := PlanQuantize(in, opts)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(out); err == nil && st.IsDir() {
		return nil, fmt.Errorf("quantize: %s is a directory", out)
	}
	return Write(ctx, out, plan.Meta, plan.Sources, opts.Options)
}
