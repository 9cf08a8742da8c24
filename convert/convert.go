package convert

import (
	"context"
	"fmt"
	"strings"

	"github.com/ggufy/ggufy/archmap"
	"github.com/ggufy/ggufy/gguf"
)

// OutTypes maps --outtype names to file types (convert_hf_to_gguf.py's choices).
var OutTypes = map[string]gguf.FileType{
	"f32":   gguf.FileTypeAllF32,
	"f16":   gguf.FileTypeMostlyF16,
	"bf16":  gguf.FileTypeMostlyBF16,
	"q8_0":  gguf.FileTypeMostlyQ8_0,
	"tq1_0": gguf.FileTypeMostlyTQ1_0,
	"tq2_0": gguf.FileTypeMostlyTQ2_0,
	"auto":  gguf.FileTypeGuessed,
}

// ParseOutType parses an --outtype value.
func ParseOutType(s string) (gguf.FileType, error) {
	ft, ok := OutTypes[strings.ToLower(s)]
	if !ok {
		return 0, fmt.Errorf("convert: unknown outtype %q (want f32, f16, bf16, q8_0, tq1_0, tq2_0 or auto)", s)
	}
	return ft, nil
}

// Sources turns a conversion plan into the tensors to write, each with the type llama.cpp's
// converter gives it for the plan's file type.
func Sources(p *archmap.Converter) []*Source {
	// Each source row is read once: its mapped pages need not stay resident.
	p.Ckpt.ReleaseAfterRead()
	srcs := make([]*Source, len(p.Tensors))
	for i, t := range p.Tensors {
		t := t
		srcs[i] = &Source{
			Info: gguf.TensorInfo{Name: t.Name, Dims: t.Dims(), Type: p.OutType(t, p.FileType)},
			Rows: t.ReadRows,
		}
	}
	return srcs
}

// File converts the checkpoint in dir to one GGUF file (or shards) at out, as llama.cpp's
// convert_hf_to_gguf.py would with --outtype ft. It returns the files written.
func File(ctx context.Context, dir, out string, ft gguf.FileType, aopts archmap.Options, opts Options) ([]string, error) {
	p, err := archmap.Open(dir, ft, aopts)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	return Write(ctx, out, p.Meta, Sources(p), opts)
}
