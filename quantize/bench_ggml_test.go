//go:build llamacpp

package quantize

import (
	"testing"

	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/internal/llamacpp"
)

// BenchmarkGGMLQuantize is BenchmarkQuantize run by ggml (one thread, same input), so that the
// ratios come from one run.
func BenchmarkGGMLQuantize(b *testing.B) {
	x, imatrix := benchInput()
	for _, c := range benchCases(imatrix) {
		b.Run(c.name, func(b *testing.B) {
			size, _ := c.typ.RowSize(int64(len(x)))
			dst := make([]byte, size)
			b.SetBytes(int64(4 * len(x)))
			for b.Loop() {
				var err error
				switch c.typ {
				case gguf.TypeQ8_1, gguf.TypeQ8_K:
					err = llamacpp.QuantizeRowRefTo(c.typ, dst, x)
				default:
					err = llamacpp.QuantizeChunkTo(c.typ, dst, x, len(x)/benchRow, benchRow, c.w)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGGMLDequantize is BenchmarkDequantize run by ggml's to_float.
func BenchmarkGGMLDequantize(b *testing.B) {
	x, _ := benchInput()
	for _, typ := range myTypes {
		if typ == gguf.TypeQ8_1 {
			continue
		}
		b.Run(typ.String(), func(b *testing.B) {
			q, err := ggmlQuantize(typ, x, benchRow, nil)
			if err != nil {
				b.Fatal(err)
			}
			y := make([]float32, len(x))
			b.SetBytes(int64(4 * len(x)))
			for b.Loop() {
				if err := llamacpp.DequantizeAnyTo(typ, y, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
