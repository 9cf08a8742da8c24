//go:build llamacpp

package kernels

// Oracle tests against ggml's CPU backend (libggml-cpu-haswell.so through internal/llamacpp):
// activation quantizers byte for byte, and every kernel's dot product within float rounding.
// Run with: eval "$(scripts/llamacpp.sh)"; go test -tags llamacpp ./runtime/kernels

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/internal/llamacpp"
)

// actInputs returns float rows that exercise the quantizers: plain, outliers, zeros, rounding
// ties, tiny and huge values.
func actInputs(r *rand.Rand, n int) map[string][]float32 {
	in := map[string][]float32{}
	gauss := make([]float32, n)
	for i := range gauss {
		gauss[i] = randFloat(r)
	}
	in["gauss"] = gauss
	zeros := make([]float32, n)
	for i := n / 2; i < n; i++ {
		zeros[i] = float32(r.NormFloat64())
	}
	in["half-zero"] = zeros
	// max 127 in each block, the rest at exact .5: AVX2 rounds ties to even, the _ref C to away
	ties := make([]float32, n)
	for i := range ties {
		ties[i] = float32(r.IntN(254)-127) + 0.5
		if i%32 == 0 {
			ties[i] = 127
		}
	}
	in["ties"] = ties
	tiny := make([]float32, n)
	for i := range tiny {
		tiny[i] = float32(r.NormFloat64()) * 1e-30
	}
	in["tiny"] = tiny
	huge := make([]float32, n)
	for i := range huge {
		huge[i] = float32(r.NormFloat64()) * 1e30
	}
	in["huge"] = huge
	sub := make([]float32, n)
	for i := range sub {
		sub[i] = float32(r.NormFloat64()) * 1e-39 // subnormal: 127/amax overflows
	}
	in["subnormal"] = sub
	mixed := make([]float32, n)
	for i := range mixed {
		mixed[i] = float32(r.NormFloat64() * math.Exp(r.NormFloat64()*8))
	}
	in["mixed"] = mixed
	ones := make([]float32, n)
	for i := range ones {
		ones[i] = -1
	}
	in["minus-ones"] = ones
	special := make([]float32, n) // for the float formats only
	for i := range special {
		special[i] = []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)),
			70000, -65520, 65519, 3e-8, -6e-8, math.Float32frombits(0x7fc00001), math.Float32frombits(0xff800001),
			math.Float32frombits(0x7f7fffff), 0x1p-14, 0x1.ffcp-15}[i%13]
	}
	in["special"] = special
	return in
}

func TestQuantizeActivationsMatchesGGML(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	weightFor := map[gguf.Type]gguf.Type{
		gguf.TypeF32: gguf.TypeF32, gguf.TypeF16: gguf.TypeF16, gguf.TypeBF16: gguf.TypeBF16,
		gguf.TypeQ8_0: gguf.TypeQ8_0, gguf.TypeQ8_1: gguf.TypeQ4_1, gguf.TypeQ8_K: gguf.TypeQ4_K,
	}
	for _, asm := range asmModes() {
		for act, wt := range weightFor {
			for _, n := range []int{256, 4096, 768} {
				for name, src := range actInputs(r, n) {
					if name == "special" && act.IsQuantized() {
						continue
					}
					t.Run(fmt.Sprintf("%s/%s/%s/%d", asm.name, act, name, n), func(t *testing.T) {
						defer asm.set()()
						want, err := llamacpp.CPUFromFloat(act, src)
						if err != nil {
							t.Fatal(err)
						}
						got := make([]byte, len(want))
						if err := QuantizeActivations(wt, got, src); err != nil {
							t.Fatal(err)
						}
						if !bytes.Equal(got, want) {
							for i := range got {
								if got[i] != want[i] {
									t.Fatalf("byte %d of %d differs: got %#x, ggml %#x", i, len(got), got[i], want[i])
								}
							}
						}
					})
				}
			}
		}
	}
}

// ggmlWeights returns weight rows from ggml's own quantizer (with an importance matrix for the
// types that need one), or nil for the plain types.
func ggmlWeights(t *testing.T, r *rand.Rand, typ gguf.Type, n, nrows int) []byte {
	src := make([]float32, n*nrows)
	for i := range src {
		src[i] = float32(r.NormFloat64()) * 0.02
	}
	var im []float32
	if llamacpp.RequiresImatrix(typ) || typ.IsQuantized() && typ.BlockSize() == qkK {
		im = make([]float32, n)
		for i := range im {
			im[i] = float32(r.ExpFloat64())
		}
	}
	if !typ.IsQuantized() {
		return nil
	}
	q, err := llamacpp.QuantizeChunk(typ, src, nrows, n, im)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

var oracleSeed = flag.Uint64("oracle.seed", 3, "random seed of the ggml oracle tests")

func TestVecDotMatchesGGML(t *testing.T) {
	r := rand.New(rand.NewPCG(*oracleSeed, 4))
	var worst []string
	for _, typ := range Types() {
		k := kernelTable[typ]
		for _, asm := range asmModes() {
			maxRel := 0.0
			exact, total := 0, 0
			for _, n := range []int{k.block * 1, k.block * 3, 4096} {
				if n%k.block != 0 || n < k.block {
					continue
				}
				if k.block == 1 && n < 32 {
					n = 33 // odd tail for the plain types
				}
				const nrows = 6
				sources := map[string][]byte{
					"random":  randWeights(r, typ, n, nrows, scaleNormal),
					"extreme": randWeights(r, typ, n, nrows, scaleExtreme),
				}
				if q := ggmlWeights(t, r, typ, n, nrows); q != nil {
					sources["ggml"] = q
				}
				ws, as, _ := RowSizes(typ, n)
				for _, name := range slices.Sorted(maps.Keys(sources)) {
					w := sources[name]
					mode := scaleNormal
					if name == "extreme" {
						mode = scaleExtreme
					}
					acts := randActRows(r, typ, n, nrows, mode)
					for i := 0; i < nrows; i++ {
						wr, ar := w[i*ws:(i+1)*ws], acts[i*as:(i+1)*as]
						want, err := llamacpp.CPUVecDot(typ, n, wr, ar)
						if err != nil {
							t.Fatal(err)
						}
						restore := asm.set()
						got := VecDot(typ, n, wr, ar)
						restore()
						total++
						if got == want || math.IsNaN(float64(got)) && math.IsNaN(float64(want)) {
							exact++
							continue
						}
						scale := absDot(typ, n, wr, ar)
						rel := math.Abs(float64(got)-float64(want)) / scale
						maxRel = max(maxRel, rel)
						// ~1e-6: float32 sums of the same products in another order (ggml's AVX2
						// kernels round per lane, the pure-Go ones per block)
						if !(rel <= 2e-6) {
							t.Errorf("%s %s %s n=%d row %d: got %g, ggml %g (error %.3g of sum |w a| = %g)",
								asm.name, typ, name, n, i, got, want, rel, scale)
						}
					}
				}
			}
			worst = append(worst, fmt.Sprintf("%-8s %-4s bit-identical %3d/%3d, max error %.2g of sum |w a|", typ, asm.name, exact, total, maxRel))
		}
	}
	for _, s := range worst {
		t.Log(s)
	}
}
