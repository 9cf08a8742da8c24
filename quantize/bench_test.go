package quantize

import (
	"math/rand/v2"
	"testing"

	"github.com/ggufy/ggufy/gguf"
)

const benchRow = 4096

// benchInput is 16 rows of 4096 normal values and an importance matrix, the same for every type.
func benchInput() (x, imatrix []float32) {
	r := rand.New(rand.NewPCG(11, 12))
	x = normalRows(r, 16*benchRow, 0.02)
	imatrix = make([]float32, benchRow)
	for i := range imatrix {
		imatrix[i] = float32(r.ExpFloat64())
	}
	return x, imatrix
}

// benchCases are the benchmarked (type, importance matrix) pairs: every type, and again with an
// importance matrix where the type uses one.
func benchCases(imatrix []float32) []struct {
	name string
	typ  gguf.Type
	w    []float32
} {
	var cs []struct {
		name string
		typ  gguf.Type
		w    []float32
	}
	for _, t := range myTypes {
		cs = append(cs, struct {
			name string
			typ  gguf.Type
			w    []float32
		}{t.String(), t, nil})
		if usesImportance(t) {
			cs = append(cs, struct {
				name string
				typ  gguf.Type
				w    []float32
			}{t.String() + "+imatrix", t, imatrix})
		}
	}
	return cs
}

// usesImportance reports whether ggml's quantizer for t reads the importance matrix.
func usesImportance(t gguf.Type) bool {
	switch t {
	case gguf.TypeQ4_0, gguf.TypeQ4_1, gguf.TypeQ5_0, gguf.TypeQ5_1, gguf.TypeQ2_K, gguf.TypeQ3_K,
		gguf.TypeQ4_K, gguf.TypeQ5_K, gguf.TypeQ6_K, gguf.TypeIQ4_NL, gguf.TypeIQ4_XS:
		return true
	}
	return false
}

// BenchmarkQuantize measures one thread encoding F32 input; MB/s counts input bytes.
func BenchmarkQuantize(b *testing.B) {
	x, imatrix := benchInput()
	for _, c := range benchCases(imatrix) {
		b.Run(c.name, func(b *testing.B) {
			size, _ := c.typ.RowSize(int64(len(x)))
			dst := make([]byte, size)
			b.SetBytes(int64(4 * len(x)))
			b.ReportAllocs()
			for b.Loop() {
				if err := Quantize(c.typ, dst, x, benchRow, c.w); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDequantize measures one thread decoding; MB/s counts output F32 bytes.
func BenchmarkDequantize(b *testing.B) {
	x, _ := benchInput()
	for _, typ := range myTypes {
		b.Run(typ.String(), func(b *testing.B) {
			size, _ := typ.RowSize(int64(len(x)))
			q := make([]byte, size)
			if err := Quantize(typ, q, x, benchRow, nil); err != nil {
				b.Fatal(err)
			}
			y := make([]float32, len(x))
			b.SetBytes(int64(4 * len(x)))
			b.ReportAllocs()
			for b.Loop() {
				if err := Dequantize(typ, y, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
