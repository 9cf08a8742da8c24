package quantize

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/internal/iqgrid"
)

// iqTypes are the imatrix-driven low-bit i-quants of iq1.go, iq2.go and iq3.go.
var iqTypes = []gguf.Type{
	gguf.TypeIQ2_XXS, gguf.TypeIQ2_XS, gguf.TypeIQ2_S, gguf.TypeIQ3_XXS, gguf.TypeIQ3_S,
	gguf.TypeIQ1_S, gguf.TypeIQ1_M,
}

type iqInput struct {
	name    string
	nPerRow int
	src     []float32
}

// iqLoadWeights reads testdata/weights.f32 (real trained weights, see testdata/README.md).
func iqLoadWeights(tb testing.TB) []float32 {
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

func iqNormal(r *rand.Rand, n int, scale float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * scale)
	}
	return x
}

// iqTestInputs returns the rows every i-quant is checked on.
func iqTestInputs(tb testing.TB) []iqInput {
	r := rand.New(rand.NewPCG(11, 12))
	var ins []iqInput
	add := func(name string, nPerRow int, src []float32) { ins = append(ins, iqInput{name, nPerRow, src}) }
	const n = 8 * iqQK

	add("normal", iqQK, iqNormal(r, 16*iqQK, 1))
	add("normal", 3*iqQK, iqNormal(r, 4*3*iqQK, 0.02))
	w := iqLoadWeights(tb)
	add("weights", iqQK, w[:len(w)/iqQK*iqQK])
	// rows 176..223 of 256 are layer 1's down_proj, 16 rows of 768
	add("weights-down_proj", 3*iqQK, w[176*iqQK:224*iqQK])
	add("zeros", iqQK, make([]float32, 2*iqQK))

	x := iqNormal(r, n, 1)
	for i := range x {
		if r.IntN(8) == 0 {
			x[i] = 0
		}
	}
	for b := 0; b+32 <= n; b += 32 * 5 { // whole groups of 32 zero
		clear(x[b : b+32])
	}
	for b := 48; b+16 <= n; b += 16 * 7 { // and of 16
		clear(x[b : b+16])
	}
	for b := 1000; b+8 <= n; b += 8 * 13 { // and of 8
		clear(x[b : b+8])
	}
	add("with-zeros", iqQK, x)

	x = iqNormal(r, n, 1)
	for i := range x { // each row on its own scale, from tiny to large
		x[i] *= float32(math.Pow(10, float64([]int{-12, -9, -7, -5, 3, 5, 7, 9}[i/iqQK])))
	}
	add("scales", iqQK, x)

	x = iqNormal(r, n, 1)
	for i := range x { // groups of 16 around the zero thresholds (1e-15 ... 1e-7)
		x[i] *= float32(math.Pow(10, -float64(6+i/16%10)))
	}
	add("thresholds", iqQK, x)

	add("subnormal", iqQK, iqNormal(r, iqQK, 1e-39))

	x = make([]float32, 4*iqQK)
	for i := range x {
		x[i] = []float32{0.5, -3, 1e-3, 7}[i/iqQK]
	}
	add("constant", iqQK, x)

	x = make([]float32, n)
	for i := range x { // a coarse grid: many exact ties, for the IQ1 sorts
		x[i] = float32(r.IntN(9)-4) / 4
	}
	add("ties", iqQK, x)

	x = iqNormal(r, n, 0.01)
	for i := 0; i < n; i += 32 {
		x[i+r.IntN(32)] = float32(r.NormFloat64() * 5)
	}
	add("outliers", iqQK, x)

	x = make([]float32, n)
	for i := range x {
		x[i] = float32(math.Abs(r.NormFloat64())) + 0.1
		if i/iqQK%2 == 1 {
			x[i] = -x[i]
		}
	}
	add("one-sign", iqQK, x)

	x = make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * math.Pow(10, float64(i/16%7)-3))
	}
	add("mixed-scales", iqQK, x)

	x = make([]float32, n)
	for i := range x {
		x[i] = float32(r.Float64()*2 - 1)
	}
	add("uniform", iqQK, x)
	return ins
}

type iqImatrix struct {
	name string
	w    []float32
}

// iqTestImatrices returns the importance matrices each input is quantized with, nil first.
func iqTestImatrices(nPerRow int) []iqImatrix {
	r := rand.New(rand.NewPCG(13, uint64(nPerRow)))
	uniform := make([]float32, nPerRow)
	acts := make([]float32, nPerRow) // mean squared activations, per-channel scales
	sparse := make([]float32, nPerRow)
	for i := range uniform {
		uniform[i] = float32(0.5 + r.Float64())
		s := math.Exp(r.NormFloat64())
		var sum float64
		for k := 0; k < 8; k++ {
			a := r.NormFloat64() * s
			sum += a * a
		}
		acts[i] = float32(sum / 8)
		if r.IntN(4) != 0 {
			sparse[i] = acts[i]
		}
	}
	clear(sparse[32:64])
	return []iqImatrix{
		{"none", nil}, {"uniform", uniform}, {"activations", acts}, {"sparse", sparse},
		{"zero", make([]float32, nPerRow)},
	}
}

func TestIQRegistered(t *testing.T) {
	for _, typ := range iqTypes {
		if !Supported(typ) {
			t.Errorf("%s not supported", typ)
		}
	}
	for _, typ := range []gguf.Type{gguf.TypeIQ2_XXS, gguf.TypeIQ2_XS, gguf.TypeIQ1_S} {
		if !RequiresImatrix(typ) {
			t.Errorf("%s should require an importance matrix", typ)
		}
		dst := make([]byte, typ.TypeSize())
		if err := Quantize(typ, dst, make([]float32, iqQK), iqQK, nil); err == nil {
			t.Errorf("%s: quantized without an importance matrix", typ)
		}
	}
}

// TestIQGrids checks the generated tables against each other: the quantizer's packed levels
// and the decoder's byte grids describe the same points in the same order.
func TestIQGrids(t *testing.T) {
	check := func(name string, kgrid []uint16, dim, bits int, value func(j, k int) int, values []int) {
		for j, g := range kgrid {
			for k := 0; k < dim; k++ {
				l := int(g) >> (bits * k) & (1<<bits - 1)
				if l >= len(values) || value(j, k) != values[l] {
					t.Fatalf("%s: point %d coordinate %d: level %d but value %d", name, j, k, l, value(j, k))
				}
			}
		}
	}
	b8 := func(g []uint64) func(j, k int) int { return func(j, k int) int { return int(uint8(g[j] >> (8 * k))) } }
	s8 := func(g []uint64) func(j, k int) int { return func(j, k int) int { return int(int8(g[j] >> (8 * k))) } }
	b4 := func(g []uint32) func(j, k int) int { return func(j, k int) int { return int(uint8(g[j] >> (8 * k))) } }
	iq2 := []int{8, 25, 43}
	check("iq2xxs", iqgrid.KGrid2bit256[:], 8, 2, b8(iqgrid.IQ2XXS[:]), iq2)
	check("iq2xs", iqgrid.KGrid2bit512[:], 8, 2, b8(iqgrid.IQ2XS[:]), iq2)
	check("iq2s", iqgrid.KGrid2bit1024[:], 8, 2, b8(iqgrid.IQ2S[:]), iq2)
	check("iq1s", iqgrid.KGrid1bit2048[:], 8, 2, s8(iqgrid.IQ1S[:]), []int{-1, 0, 1})
	check("iq3xxs", iqgrid.KGrid3bit256[:], 4, 3, b4(iqgrid.IQ3XXS[:]), []int{4, 12, 20, 28, 36, 44, 52, 62})
	check("iq3s", iqgrid.KGrid3bit512[:], 4, 3, b4(iqgrid.IQ3S[:]), []int{1, 3, 5, 7, 9, 11, 13, 15})
	for s := 0; s < 128; s++ {
		parity := 0
		for b := s; b != 0; b >>= 1 {
			parity ^= b & 1
		}
		if want := uint8(s | parity<<7); iqgrid.KSigns[s] != want {
			t.Fatalf("ksigns[%d] = %d, want %d", s, iqgrid.KSigns[s], want)
		}
	}
}

// TestIQLatticeNeighbours checks the neighbour lists against a direct sort by (distance, index).
func TestIQLatticeNeighbours(t *testing.T) {
	cases := []struct {
		name        string
		lat         *iqLattice
		kgrid       []uint16
		bits, nwant int
	}{
		{"iq2xxs", iq2xxsLattice(), iqgrid.KGrid2bit256[:], 2, 2},
		{"iq2s", iq2sLattice(), iqgrid.KGrid2bit1024[:], 2, 1},
		{"iq1", iq1Lattice(), iqgrid.KGrid1bit2048[:], 2, 3},
		{"iq3s", iq3sLattice(), iqgrid.KGrid3bit512[:], 3, 3},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range cases {
		dim := c.lat.dim
		for try := 0; try < 300; try++ {
			key := r.IntN(len(c.lat.kmap))
			m := c.lat.kmap[key]
			if m >= 0 {
				if int(c.kgrid[m]) != key {
					t.Fatalf("%s: kmap[%d] = %d, grid point is %d", c.name, key, m, c.kgrid[m])
				}
				continue
			}
			type pd struct{ d, j int }
			all := make([]pd, len(c.kgrid))
			for j, g := range c.kgrid {
				d := 0
				for k := 0; k < dim; k++ {
					e := 2 * (int(g)>>(c.bits*k)&(1<<c.bits-1) - key>>(c.bits*k)&(1<<c.bits-1))
					d += e * e
				}
				all[j] = pd{d, j}
			}
			slices.SortFunc(all, func(a, b pd) int {
				if a.d != b.d {
					return a.d - b.d
				}
				return a.j - b.j
			})
			var want []uint16
			have, d := 1, all[0].d
			for _, p := range all {
				if p.d > d {
					if have == c.nwant {
						break
					}
					d = p.d
					have++
				}
				want = append(want, uint16(p.j))
			}
			if got := c.lat.neighbours(m); !slices.Equal(got, want) {
				t.Fatalf("%s: key %d: neighbours %v, want %v", c.name, key, got, want)
			}
		}
	}
}

func TestIQNearestInt(t *testing.T) {
	for _, c := range []struct {
		f    float32
		want int
	}{{0.5, 0}, {1.5, 2}, {2.5, 2}, {-0.5, 0}, {-1.5, -2}, {0.49999997, 0}, {3.7, 4}, {-3.7, -4}, {4194303, 4194303}} {
		if got := iqNearestInt(c.f); got != c.want {
			t.Errorf("iqNearestInt(%g) = %d, want %d", c.f, got, c.want)
		}
	}
}

// TestIQSortPairs checks the merge sort against a stable sort, ties included.
func TestIQSortPairs(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for try := 0; try < 200; try++ {
		n := 1 + r.IntN(32)
		p := make([]iqPair, n)
		for i := range p {
			p[i] = iqPair{float32(r.IntN(5)), int32(i)}
		}
		want := slices.Clone(p)
		slices.SortStableFunc(want, func(a, b iqPair) int {
			switch {
			case a.v < b.v:
				return -1
			case a.v > b.v:
				return 1
			}
			return 0
		})
		q := slices.Clone(p)
		iqSortPairs(p, make([]iqPair, n))
		if !slices.Equal(p, want) {
			t.Fatalf("sorted %v, want %v", p, want)
		}
		iqMergeSortPairs(q, make([]iqPair, n))
		if !slices.Equal(q, want) {
			t.Fatalf("merge sort gives %v, want %v", q, want)
		}
	}
	// With NaN the comparator is inconsistent and glibc's merge order decides; these are the
	// orders glibc 2.36's qsort gives with ggml's iq1_sort_helper (checked with a C program).
	nan := float32(math.NaN())
	for _, c := range []struct {
		v    []float32
		want []int32
	}{
		{[]float32{3, nan, 1, 2}, []int32{2, 3, 0, 1}},
		{[]float32{5, nan, 1, 4, nan, 2, 2, 0, 3, nan, -1, 7, 6, nan, 1, 0},
			[]int32{10, 15, 2, 14, 8, 3, 0, 1, 4, 7, 5, 6, 9, 12, 11, 13}},
	} {
		p := make([]iqPair, len(c.v))
		for i, v := range c.v {
			p[i] = iqPair{v, int32(i)}
		}
		iqSortPairs(p, make([]iqPair, len(p)))
		for i := range p {
			if p[i].i != c.want[i] {
				t.Fatalf("NaN order %v, want indices %v", p, c.want)
			}
		}
	}
}

// iqErrorBound is the largest relative RMS error accepted per type on normal data: about twice
// what ggml's quantizers reach.
var iqErrorBound = map[gguf.Type]float64{
	gguf.TypeIQ1_S: 0.75, gguf.TypeIQ1_M: 0.65, gguf.TypeIQ2_XXS: 0.55, gguf.TypeIQ2_XS: 0.45,
	gguf.TypeIQ2_S: 0.4, gguf.TypeIQ3_XXS: 0.3, gguf.TypeIQ3_S: 0.25,
}

// iqRoundTrip quantizes and dequantizes src and returns the relative RMS error.
func iqRoundTrip(t testing.TB, typ gguf.Type, src []float32, nPerRow int, im []float32) float64 {
	size, err := typ.RowSize(int64(nPerRow))
	if err != nil {
		t.Fatal(err)
	}
	q := make([]byte, int(size)*(len(src)/nPerRow))
	if err := Quantize(typ, q, src, nPerRow, im); err != nil {
		t.Fatal(err)
	}
	back := make([]float32, len(src))
	if err := Dequantize(typ, back, q); err != nil {
		t.Fatal(err)
	}
	var num, den float64
	for i := range src {
		d := float64(back[i] - src[i])
		num += d * d
		den += float64(src[i]) * float64(src[i])
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

func TestIQRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	src := iqNormal(r, 32*iqQK, 1)
	w := iqLoadWeights(t)
	weights := w[:128*iqQK]
	for _, typ := range iqTypes {
		for _, im := range iqTestImatrices(iqQK)[:3] {
			if im.w == nil && RequiresImatrix(typ) {
				continue
			}
			for _, in := range []struct {
				name string
				x    []float32
			}{{"normal", src}, {"weights", weights}} {
				e := iqRoundTrip(t, typ, in.x, iqQK, im.w)
				if e > iqErrorBound[typ] || math.IsNaN(e) {
					t.Errorf("%s/%s/%s: relative RMS error %.3f > %.2f", typ, in.name, im.name, e, iqErrorBound[typ])
				}
				t.Logf("%s/%s/%s: relative RMS error %.3f", typ, in.name, im.name, e)
			}
		}
		// zeros come back as zeros
		if e := iqRoundTrip(t, typ, make([]float32, iqQK), iqQK, iqTestImatrices(iqQK)[1].w); e != 0 {
			t.Errorf("%s: zero row decodes with error %g", typ, e)
		}
	}
}

var updateIQGolden = flag.Bool("update-iq", false, "rewrite testdata/iq_golden.json")

// iqUpdate reports whether to rewrite the golden file: -update-iq, or the package's shared
// -update flag where another test file defines it.
func iqUpdate() bool {
	if *updateIQGolden {
		return true
	}
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// iqGoldenInput is the fixed pseudo-random input of the golden hashes: 8 rows of 256 normal
// values, and an importance matrix of mean squared activations.
func iqGoldenInput() ([]float32, []float32) {
	r := rand.New(rand.NewPCG(2024, 5))
	src := iqNormal(r, 8*iqQK, 1)
	for i := 0; i < len(src); i += 97 {
		src[i] = 0
	}
	im := make([]float32, iqQK)
	for i := range im {
		a, b := r.NormFloat64(), r.NormFloat64()
		im[i] = float32((a*a + b*b) / 2)
	}
	return src, im
}

// TestIQGolden pins sha256 of the encodings of a fixed input (with an importance matrix, and
// without where the type allows it), so that hermetic runs without ggml catch any change. Run
// with -update-iq (or -update) only after checking the new encodings against ggml (-tags llamacpp).
func TestIQGolden(t *testing.T) {
	src, im := iqGoldenInput()
	got := map[string]string{}
	for _, typ := range iqTypes {
		for _, w := range [][]float32{im, nil} {
			if w == nil && RequiresImatrix(typ) {
				continue
			}
			size, _ := typ.RowSize(iqQK)
			q := make([]byte, int(size)*len(src)/iqQK)
			if err := Quantize(typ, q, src, iqQK, w); err != nil {
				t.Fatal(err)
			}
			name := typ.String()
			if w == nil {
				name += "/no-imatrix"
			}
			sum := sha256.Sum256(q)
			got[name] = hex.EncodeToString(sum[:])
		}
	}
	const path = "testdata/iq_golden.json"
	if iqUpdate() {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]string
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(got) {
		t.Errorf("golden file has %d entries, want %d", len(want), len(got))
	}
	for name, h := range got {
		if want[name] != h {
			t.Errorf("%s: sha256 %s, golden %s", name, h, want[name])
		}
	}
}

// TestIQConcurrent quantizes from several goroutines at once, the first uses of the lattices
// included (run it with -race): the results must equal a sequential run.
func TestIQConcurrent(t *testing.T) {
	src, im := iqGoldenInput()
	src = src[:2*iqQK]
	encode := func(typ gguf.Type) []byte {
		size, _ := typ.RowSize(iqQK)
		q := make([]byte, 2*int(size))
		if err := Quantize(typ, q, src, iqQK, im); err != nil {
			t.Error(err)
		}
		return q
	}
	got := make([][]byte, 2*len(iqTypes))
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() { got[i] = encode(iqTypes[i%len(iqTypes)]) })
	}
	wg.Wait()
	for i, q := range got {
		if want := encode(iqTypes[i%len(iqTypes)]); !bytes.Equal(q, want) {
			t.Errorf("%s: concurrent encoding differs", iqTypes[i%len(iqTypes)])
		}
	}
}

// TestIQNonFinite quantizes rows with NaN, ±Inf and values near the float32 limit, with
// importance matrices holding NaN, Inf, negative and zero weights. ggml aborts on many of these
// (its asserts fire); here every one must be encoded without a panic and decode to something.
func TestIQNonFinite(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	r := rand.New(rand.NewPCG(21, 22))
	rows := [][]float32{}
	for _, special := range []float32{nan, inf, -inf, math.MaxFloat32, -math.MaxFloat32, 1e30} {
		x := iqNormal(r, iqQK, 1)
		for i := 0; i < iqQK; i += 37 {
			x[i] = special
		}
		rows = append(rows, x)
		all := make([]float32, iqQK)
		for i := range all {
			all[i] = special
		}
		rows = append(rows, all)
	}
	ims := [][]float32{nil}
	for _, special := range []float32{nan, inf, -1, 0, 1e-38} {
		w := make([]float32, iqQK)
		for i := range w {
			w[i] = float32(r.Float64())
			if i%5 == 0 {
				w[i] = special
			}
		}
		ims = append(ims, w)
	}
	for _, typ := range iqTypes {
		size, _ := typ.RowSize(iqQK)
		q := make([]byte, size)
		back := make([]float32, iqQK)
		for ri, x := range rows {
			for wi, w := range ims {
				if w == nil && RequiresImatrix(typ) {
					continue
				}
				if err := Quantize(typ, q, x, iqQK, w); err != nil {
					t.Fatalf("%s row %d imatrix %d: %v", typ, ri, wi, err)
				}
				if err := Dequantize(typ, back, q); err != nil {
					t.Fatalf("%s row %d imatrix %d: %v", typ, ri, wi, err)
				}
			}
		}
	}
}

// FuzzIQ quantizes fuzzed rows (NaN, Inf and zeros included) with fuzzed importance weights:
// no panics, and finite input with positive weights must round-trip within the type's bound.
func FuzzIQ(f *testing.F) {
	seed := make([]byte, 4*iqQK)
	r := rand.New(rand.NewPCG(9, 9))
	for i := 0; i < iqQK; i++ {
		binary.LittleEndian.PutUint32(seed[4*i:], math.Float32bits(float32(r.NormFloat64())))
	}
	f.Add(seed, uint8(0), uint64(1))
	f.Add(seed, uint8(5), uint64(2))
	f.Add(make([]byte, 4*iqQK), uint8(6), uint64(0))
	nanRow := bytes.Clone(seed)
	binary.LittleEndian.PutUint32(nanRow[40:], 0x7fc00000)
	binary.LittleEndian.PutUint32(nanRow[400:], 0x7f800000)
	f.Add(nanRow, uint8(3), uint64(3))
	f.Fuzz(func(t *testing.T, data []byte, which uint8, imSeed uint64) {
		typ := iqTypes[int(which)%len(iqTypes)]
		src := make([]float32, iqQK)
		finite := true
		for i := range src {
			if 4*i+4 <= len(data) {
				src[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
			}
			if math.IsNaN(float64(src[i])) || math.IsInf(float64(src[i]), 0) || math.Abs(float64(src[i])) > 1e6 {
				finite = false
			}
		}
		ir := rand.New(rand.NewPCG(imSeed, 1))
		var im []float32
		positive := true
		switch imSeed % 4 {
		case 0:
			if !RequiresImatrix(typ) {
				break
			}
			fallthrough
		case 1:
			im = make([]float32, iqQK)
			for i := range im {
				im[i] = float32(ir.ExpFloat64()) + 0.01
			}
		case 2: // zero weights
			im = make([]float32, iqQK)
			positive = false
		case 3: // anything, NaN and negative included
			im = make([]float32, iqQK)
			for i := range im {
				im[i] = math.Float32frombits(ir.Uint32())
			}
			positive = false
		}
		size, _ := typ.RowSize(iqQK)
		q := make([]byte, size)
		if err := Quantize(typ, q, src, iqQK, im); err != nil {
			t.Fatal(err)
		}
		back := make([]float32, iqQK)
		if err := Dequantize(typ, back, q); err != nil {
			t.Fatal(err)
		}
		if !finite || !positive {
			return
		}
		var num, den, xmax, ymax float64
		for i := range src {
			d := float64(back[i]) - float64(src[i])
			num += d * d
			den += float64(src[i]) * float64(src[i])
			xmax = max(xmax, math.Abs(float64(src[i])))
			ymax = max(ymax, math.Abs(float64(back[i])))
		}
		// Any row: no decoded value far beyond the largest input. IQ1 decodes every level with
		// a ±1/8 shift, and even an all-zero block to -7/8 of the super-block scale, so only
		// the other types also keep the error within the signal.
		if ymax > 8*xmax || math.IsNaN(ymax) {
			t.Fatalf("%s: decoded values up to %g for inputs up to %g", typ, ymax, xmax)
		}
		if typ != gguf.TypeIQ1_S && typ != gguf.TypeIQ1_M && num > 4*den+1e-20 {
			t.Fatalf("%s: error %g for signal %g", typ, num, den)
		}
	})
}

const iqBenchRow = 4096

// iqBenchInput is 16 rows of 4096 real-looking values with an importance matrix.
func iqBenchInput() ([]float32, []float32) {
	r := rand.New(rand.NewPCG(77, 78))
	src := iqNormal(r, 16*iqBenchRow, 0.02)
	im := make([]float32, iqBenchRow)
	for i := range im {
		a := r.NormFloat64()
		im[i] = float32(a*a) + 0.05
	}
	return src, im
}

// BenchmarkQuantizeIQ measures Quantize per i-quant, in MB/s of float32 input; with
// -tags llamacpp, BenchmarkQuantizeIQGGML measures ggml on the same input.
func BenchmarkQuantizeIQ(b *testing.B) {
	src, im := iqBenchInput()
	for _, typ := range iqTypes {
		b.Run(typ.String(), func(b *testing.B) {
			size, _ := typ.RowSize(iqBenchRow)
			dst := make([]byte, int(size)*len(src)/iqBenchRow)
			if err := Quantize(typ, dst, src, iqBenchRow, im); err != nil { // builds the lattice
				b.Fatal(err)
			}
			b.SetBytes(int64(4 * len(src)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := Quantize(typ, dst, src, iqBenchRow, im); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDequantizeIQ measures Dequantize per i-quant, in MB/s of float32 output.
func BenchmarkDequantizeIQ(b *testing.B) {
	src, im := iqBenchInput()
	for _, typ := range iqTypes {
		b.Run(typ.String(), func(b *testing.B) {
			size, _ := typ.RowSize(iqBenchRow)
			q := make([]byte, int(size)*len(src)/iqBenchRow)
			if err := Quantize(typ, q, src, iqBenchRow, im); err != nil {
				b.Fatal(err)
			}
			out := make([]float32, len(src))
			b.SetBytes(int64(4 * len(src)))
			for b.Loop() {
				if err := Dequantize(typ, out, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkIQLattice measures building each lattice (kmap and neighbour lists), which happens
// once per process on the first use of a type.
func BenchmarkIQLattice(b *testing.B) {
	for _, c := range []struct {
		name                   string
		kgrid                  []uint16
		dim, bits, size, nwant int
	}{
		{"iq2xxs", iqgrid.KGrid2bit256[:], 8, 2, 43692, 2},
		{"iq2xs", iqgrid.KGrid2bit512[:], 8, 2, 43692, 2},
		{"iq2s", iqgrid.KGrid2bit1024[:], 8, 2, 43692, 1},
		{"iq1", iqgrid.KGrid1bit2048[:], 8, 2, 43692, 3},
		{"iq3xxs", iqgrid.KGrid3bit256[:], 4, 3, 4096, 2},
		{"iq3s", iqgrid.KGrid3bit512[:], 4, 3, 4096, 3},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				iqNewLattice(c.kgrid, c.dim, c.bits, c.size, c.nwant)
			}
		})
	}
}
