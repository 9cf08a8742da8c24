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
			b.SetBytes(int64(4 * len(x)))
			for b.Loop() {
				if _, err := ggmlQuantize(c.typ, x, benchRow, c.w); err != nil {
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
			b.SetBytes(int64(4 * len(x)))
			for b.Loop() {
				if _, err := llamacpp.DequantizeAny(typ, q, len(x)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
