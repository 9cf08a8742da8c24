//go:build llamacpp

package quantize

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/internal/llamacpp"
)

// ggmlQuantize encodes src as ggml does: ggml_quantize_chunk, or the reference row quantizer for
// the types ggml_quantize_chunk does not take (Q8_1, Q8_K, which have no imatrix path).
func ggmlQuantize(t gguf.Type, src []float32, nPerRow int, imatrix []float32) ([]byte, error) {
	switch t {
	case gguf.TypeQ8_1, gguf.TypeQ8_K:
		return llamacpp.QuantizeRowRef(t, src)
	}
	return llamacpp.QuantizeChunk(t, src, len(src)/nPerRow, nPerRow, imatrix)
}

func usesImatrix(t gguf.Type) bool {
	switch t {
	case gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16, gguf.TypeQ8_0, gguf.TypeQ8_1, gguf.TypeQ8_K,
		gguf.TypeTQ1_0, gguf.TypeTQ2_0, gguf.TypeMXFP4, gguf.TypeNVFP4, gguf.TypeQ1_0, gguf.TypeQ2_0:
		return false
	}
	return true
}

// sameBits reports whether a and b are bit-identical float32 slices, and the first index that is not.
func sameBits(a, b []float32) (int, bool) {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i, false
		}
	}
	return -1, true
}

// TestGGMLIdentical quantizes every input with ggml and with this package and requires identical
// bytes, then decodes ggml's bytes with both and requires bit-identical floats.
func TestGGMLIdentical(t *testing.T) {
	for _, typ := range myTypes {
		t.Run(typ.String(), func(t *testing.T) {
			if !Supported(typ) && codecs[typ] == nil {
				t.Fatalf("%s is not registered", typ)
			}
			rows, blocks, cases := 0, 0, 0
			for _, nPerRow := range []int{256, 768} {
				for _, in := range testInputs(t, nPerRow) {
					for _, im := range testImatrices(nPerRow) {
						if im.w != nil && !usesImatrix(typ) {
							continue
						}
						name := fmt.Sprintf("%s/n=%d/%s", in.name, nPerRow, im.name)
						want, err := ggmlQuantize(typ, in.src, nPerRow, im.w)
						if err != nil {
							t.Fatalf("%s: ggml: %v", name, err)
						}
						got := make([]byte, len(want))
						if err := Quantize(typ, got, in.src, nPerRow, im.w); err != nil {
							t.Fatalf("%s: %v", name, err)
						}
						if !bytes.Equal(got, want) {
							t.Errorf("%s: encoding differs from ggml: %s", name, describeBlockDiff(typ, in.src, got, want))
							continue
						}
						cases++
						rows += in.nrows()
						blocks += len(in.src) / typ.BlockSize()
						checkDecode(t, typ, name, want, len(in.src))
					}
				}
			}
			t.Logf("%s: identical to ggml on %d cases, %d rows, %d blocks", typ, cases, rows, blocks)
		})
	}
}

// checkDecode decodes data with ggml and with Dequantize and requires bit-identical floats.
func checkDecode(t *testing.T, typ gguf.Type, name string, data []byte, n int) {
	t.Helper()
	if typ == gguf.TypeQ8_1 { // ggml has no dequantizer for Q8_1
		return
	}
	want, err := llamacpp.DequantizeAny(typ, data, n)
	if err != nil {
		t.Fatalf("%s: ggml dequantize: %v", name, err)
	}
	got := make([]float32, n)
	if err := Dequantize(typ, got, data); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if i, ok := sameBits(got, want); !ok {
		t.Errorf("%s: decoded value %d differs: got %g (%#08x) want %g (%#08x)", name, i,
			got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
	}
}

// TestGGMLDecodeRandomBytes decodes random blocks (any bit pattern, NaN and Inf scales included)
// with ggml and with Dequantize.
func TestGGMLDecodeRandomBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, typ := range myTypes {
		if typ == gguf.TypeQ8_1 {
			continue
		}
		n := 16 * gguf.QK_K
		size, _ := typ.RowSize(int64(n))
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		checkDecode(t, typ, typ.String()+"/random-bytes", data, n)
	}
}

// TestGGMLRandomRows compares many rows, each drawn from its own distribution and scale, with
// three importance matrices (none, dense, sparse).
func TestGGMLRandomRows(t *testing.T) {
	if testing.Short() {
		t.Skip("4096 rows per type")
	}
	const n, rows = 256, 4096
	r := rand.New(rand.NewPCG(17, 18))
	src := make([]float32, n*rows)
	for row := 0; row < rows; row++ {
		x := src[row*n : (row+1)*n]
		scale := math.Ldexp(1, r.IntN(41)-20)
		kind := r.IntN(7)
		for i := range x {
			var v float64
			switch kind {
			case 0:
				v = r.NormFloat64()
			case 1: // Laplace
				v = r.ExpFloat64() * float64(1-2*r.IntN(2))
			case 2:
				v = r.Float64()*2 - 1
			case 3: // sparse
				if r.IntN(4) == 0 {
					v = r.NormFloat64()
				}
			case 4: // small integers: exact ties everywhere
				v = float64(r.IntN(17) - 8)
			case 5: // one sign, offset
				v = 3 + r.NormFloat64()
			default: // heavy tail
				v = r.NormFloat64() / (0.05 + r.Float64())
			}
			x[i] = float32(v * scale)
		}
	}
	dense := make([]float32, n)
	sparse := make([]float32, n)
	for i := range dense {
		dense[i] = float32(r.ExpFloat64())
		if r.IntN(3) == 0 {
			sparse[i] = float32(r.ExpFloat64() * 100)
		}
	}
	for _, typ := range myTypes {
		for _, im := range [][]float32{nil, dense, sparse} {
			if im != nil && !usesImatrix(typ) {
				continue
			}
			want, err := ggmlQuantize(typ, src, n, im)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(want))
			if err := Quantize(typ, got, src, n, im); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s (imatrix %v): encoding differs: %s", typ, im != nil, describeBlockDiff(typ, src, got, want))
				continue
			}
			checkDecode(t, typ, typ.String()+"/random-rows", want, len(src))
		}
	}
}

// TestGGMLNonFinite requires identical bytes for rows holding NaN and ±Inf too (C leaves some of
// these conversions undefined; the reference is what the x86-64 build does), with and without an
// importance matrix.
func TestGGMLNonFinite(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	r := rand.New(rand.NewPCG(5, 6))
	const n = 2 * gguf.QK_K
	var rows []float32
	for k := 0; k < 8; k++ {
		row := make([]float32, n)
		for i := range row {
			row[i] = float32(r.NormFloat64())
		}
		switch k {
		case 0:
			row[3], row[40], row[300], row[301] = nan, inf, -inf, nan
		case 1:
			row[0] = nan // first of every group position
			row[32], row[256] = nan, -inf
		case 2:
			for i := 64; i < 96; i++ {
				row[i] = nan // a whole group of NaN
			}
		case 3:
			for i := 128; i < 160; i++ {
				row[i] = inf
			}
		case 4:
			row[17] = float32(math.Copysign(float64(nan), -1))
			row[200] = math.MaxFloat32
		case 5:
			row[5] = 1e38
			row[6] = -1e38
		case 6:
			for i := range row {
				row[i] *= 1e-41 // subnormal
			}
		case 7:
			row[r.IntN(n)] = inf
		}
		rows = append(rows, row...)
	}
	imatrix := make([]float32, n)
	for i := range imatrix {
		imatrix[i] = float32(r.ExpFloat64())
	}
	imatrix[7], imatrix[8] = 0, float32(math.Inf(1))
	for _, typ := range myTypes {
		for _, im := range [][]float32{nil, imatrix} {
			if im != nil && !usesImatrix(typ) {
				continue
			}
			want, err := ggmlQuantize(typ, rows, n, im)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(want))
			if err := Quantize(typ, got, rows, n, im); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s (imatrix %v): NaN/Inf encoding differs: %s", typ, im != nil, describeBlockDiff(typ, rows, got, want))
				continue
			}
			checkDecode(t, typ, typ.String()+"/nonfinite", want, len(rows))
		}
	}
}
