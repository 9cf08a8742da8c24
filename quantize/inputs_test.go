package quantize

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/ggufy/ggufy/gguf"
)

// testInput is a set of rows to quantize.
type testInput struct {
	name    string
	nPerRow int
	src     []float32
}

func (in testInput) nrows() int { return len(in.src) / in.nPerRow }

// loadWeights reads testdata/weights.f32 (real trained weights, see testdata/README.md).
func loadWeights(tb testing.TB) []float32 {
	tb.Helper()
	b, err := os.ReadFile("testdata/weights.f32")
	if err != nil {
		tb.Fatal(err)
	}
	w := make([]float32, len(b)/4)
	for i := range w {
		w[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return w
}

func normalRows(r *rand.Rand, n int, scale float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * scale)
	}
	return x
}

// testInputs returns the inputs every type is checked on, rows of nPerRow values.
func testInputs(tb testing.TB, nPerRow int) []testInput {
	r := rand.New(rand.NewPCG(1, uint64(nPerRow)))
	var ins []testInput
	add := func(name string, src []float32) {
		ins = append(ins, testInput{name, nPerRow, src})
	}
	const rows = 4
	n := rows * nPerRow

	add("normal", normalRows(r, n, 1))
	add("normal-small", normalRows(r, n, 0.02))

	w := loadWeights(tb)
	add("weights", w[:len(w)/nPerRow*nPerRow])

	add("zeros", make([]float32, n))

	x := normalRows(r, n, 1)
	for i := range x {
		if r.IntN(8) == 0 {
			x[i] = 0
		}
	}
	for b := 0; b+32 <= n; b += 32 * 5 { // some whole groups of 32 zero
		clear(x[b : b+32])
	}
	for b := 48; b+16 <= n; b += 16 * 7 { // and some of 16
		clear(x[b : b+16])
	}
	add("few-zeros", x)

	x = normalRows(r, n, 1)
	for i := range x {
		x[i] *= 1e-30
	}
	add("tiny", x)

	x = normalRows(r, n, 1)
	for i := range x {
		x[i] *= 1e30
	}
	add("huge", x)

	x = make([]float32, n)
	for i := range x {
		switch i / nPerRow % 4 {
		case 0:
			x[i] = 0.5
		case 1:
			x[i] = -3
		case 2:
			x[i] = 1e-3
		default:
			x[i] = 7
		}
	}
	add("constant", x)

	x = normalRows(r, n, 0.01)
	for row := 0; row < rows; row++ {
		x[row*nPerRow+r.IntN(nPerRow)] = float32(r.NormFloat64()) * 40
	}
	add("outlier", x)

	x = normalRows(r, n, 0.05)
	for i := 0; i < n; i += 32 {
		x[i+r.IntN(32)] = 3 // one outlier per block of 32
	}
	add("outlier-per-block", x)

	x = make([]float32, n)
	for i := range x {
		x[i] = float32(r.Float64()*2 - 1)
	}
	add("uniform", x)

	x = normalRows(r, n, 1)
	for i := range x {
		x[i] = absf(x[i]) + 0.1
	}
	add("positive", x)

	x = normalRows(r, n, 1)
	for i := range x {
		x[i] = -absf(x[i])
	}
	add("negative", x)

	x = make([]float32, n)
	for i := range x { // each group of 16 on its own scale
		x[i] = float32(r.NormFloat64() * math.Pow(10, float64(i/16%7)-3))
	}
	add("mixed-scales", x)

	x = make([]float32, n)
	for i := range x { // values on a coarse grid: many exact ties
		x[i] = float32(r.IntN(33)-16) / 4
	}
	add("grid", x)

	x = normalRows(r, n, 1e-39) // subnormal
	add("subnormal", x)

	return ins
}

// testImatrices returns the importance matrices each input is quantized with (nil first).
func testImatrices(nPerRow int) []struct {
	name string
	w    []float32
} {
	r := rand.New(rand.NewPCG(2, uint64(nPerRow)))
	pos := make([]float32, nPerRow)
	zeros := make([]float32, nPerRow)
	for i := range pos {
		pos[i] = float32(r.ExpFloat64() * 3)
		if r.IntN(4) != 0 {
			zeros[i] = float32(r.Float64() * 2)
		}
	}
	clear(zeros[32:64]) // a whole zero group of 32
	return []struct {
		name string
		w    []float32
	}{{"none", nil}, {"imatrix", pos}, {"imatrix-zeros", zeros}}
}

// myTypes are the types this package's block files implement (the i-quants live elsewhere).
var myTypes = []gguf.Type{
	gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16,
	gguf.TypeQ4_0, gguf.TypeQ4_1, gguf.TypeQ5_0, gguf.TypeQ5_1, gguf.TypeQ8_0, gguf.TypeQ8_1,
	gguf.TypeQ2_K, gguf.TypeQ3_K, gguf.TypeQ4_K, gguf.TypeQ5_K, gguf.TypeQ6_K, gguf.TypeQ8_K,
	gguf.TypeIQ4_NL, gguf.TypeIQ4_XS, gguf.TypeTQ1_0, gguf.TypeTQ2_0,
	gguf.TypeMXFP4, gguf.TypeNVFP4, gguf.TypeQ1_0, gguf.TypeQ2_0,
}

// registeredMyTypes is myTypes restricted to those registered so far.
func registeredMyTypes() []gguf.Type {
	var ts []gguf.Type
	for _, t := range myTypes {
		if codecs[t] != nil {
			ts = append(ts, t)
		}
	}
	return ts
}
