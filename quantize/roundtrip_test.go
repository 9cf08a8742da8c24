package quantize

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"testing"

	"github.com/ggufy/ggufy/gguf"
)

// bound is how far a type's round trip may stray: the relative RMS error on unit normal data,
// and per value |x - x'| <= maxFrac*amax(block) + absFloor (block: the type's (super-)block;
// absFloor covers scales that underflow their fp16/E4M3 encoding).
type bound struct {
	relRMSE  float64
	maxFrac  float64
	absFloor float64
}

// bounds were measured on the test inputs and on thousands of random blocks with scales spread
// over 2^±10 (with and without an importance matrix), with a margin of about 1.5x. They catch
// layout and scale bugs; exactness is the business of the llamacpp-tagged tests.
var bounds = map[gguf.Type]bound{
	gguf.TypeF32:    {0, 0, 0},
	gguf.TypeF16:    {0.0003, 0.0005, 1e-7},
	gguf.TypeBF16:   {0.0025, 0.004, 1e-38},
	gguf.TypeQ4_0:   {0.10, 0.42, 1e-4},
	gguf.TypeQ4_1:   {0.10, 0.25, 1e-4},
	gguf.TypeQ5_0:   {0.055, 0.31, 1e-4},
	gguf.TypeQ5_1:   {0.05, 0.20, 1e-4},
	gguf.TypeQ8_0:   {0.0065, 0.0065, 1e-4},
	gguf.TypeQ8_1:   {0.0065, 0.0065, 1e-4},
	gguf.TypeQ2_K:   {0.36, 1.0, 1e-4},
	gguf.TypeQ3_K:   {0.19, 0.72, 1e-4},
	gguf.TypeQ4_K:   {0.09, 0.45, 1e-4},
	gguf.TypeQ5_K:   {0.045, 0.23, 1e-4},
	gguf.TypeQ6_K:   {0.022, 0.31, 1e-4},
	gguf.TypeQ8_K:   {0.008, 0.006, 1e-30},
	gguf.TypeIQ4_NL: {0.095, 0.68, 1e-4},
	gguf.TypeIQ4_XS: {0.095, 0.63, 1e-4},
	gguf.TypeTQ1_0:  {0.85, 0.51, 1e-4},
	gguf.TypeTQ2_0:  {0.85, 0.51, 1e-4},
	gguf.TypeMXFP4:  {0.13, 0.26, 1e-30},
	gguf.TypeNVFP4:  {0.115, 0.26, 0.006},
	gguf.TypeQ1_0:   {0.65, 1.0, 1e-4},
	gguf.TypeQ2_0:   {0.75, 0.51, 1e-4},
}

// checkBound reports the first value of y outside t's bound around x.
func checkBound(t *testing.T, typ gguf.Type, name string, x, y []float32) {
	t.Helper()
	b := bounds[typ]
	bs := typ.BlockSize()
	for blk := 0; blk < len(x); blk += bs {
		var amax float64
		for _, v := range x[blk : blk+bs] {
			amax = math.Max(amax, math.Abs(float64(v)))
		}
		limit := b.maxFrac*amax + b.absFloor
		for i := blk; i < blk+bs; i++ {
			if e := math.Abs(float64(y[i]) - float64(x[i])); !(e <= limit) {
				t.Errorf("%s %s: value %d: %g decoded as %g, error %g > %g (block amax %g)",
					typ, name, i, x[i], y[i], e, limit, amax)
				return
			}
		}
	}
}

func relRMSE(x, y []float32) float64 {
	var se, sx float64
	for i := range x {
		d := float64(y[i]) - float64(x[i])
		se += d * d
		sx += float64(x[i]) * float64(x[i])
	}
	return math.Sqrt(se / sx)
}

func roundTrip(tb testing.TB, typ gguf.Type, x []float32, nPerRow int, imatrix []float32) ([]byte, []float32) {
	tb.Helper()
	size, err := typ.RowSize(int64(len(x)))
	if err != nil {
		tb.Fatal(err)
	}
	q := make([]byte, size)
	if err := Quantize(typ, q, x, nPerRow, imatrix); err != nil {
		tb.Fatalf("%s: %v", typ, err)
	}
	y := make([]float32, len(x))
	if err := Dequantize(typ, y, q); err != nil {
		tb.Fatalf("%s: %v", typ, err)
	}
	return q, y
}

func TestRoundTripBounds(t *testing.T) {
	for _, typ := range myTypes {
		t.Run(typ.String(), func(t *testing.T) {
			if !Supported(typ) {
				t.Fatalf("%s not supported", typ)
			}
			b, ok := bounds[typ]
			if !ok {
				t.Fatalf("no bound for %s", typ)
			}
			for _, in := range testInputs(t, 512) {
				switch in.name {
				case "huge", "tiny", "subnormal": // beyond the fp16 scales' range
					continue
				}
				for _, im := range testImatrices(512)[:2] { // zero importance may drop values
					_, y := roundTrip(t, typ, in.src, in.nPerRow, im.w)
					checkBound(t, typ, in.name+"/"+im.name, in.src, y)
					if (in.name == "normal" || in.name == "weights") && im.w == nil {
						if e := relRMSE(in.src, y); e > b.relRMSE {
							t.Errorf("%s: relative RMS error %.5f > %.5f", in.name, e, b.relRMSE)
						}
					}
				}
			}
			r := rand.New(rand.NewPCG(7, uint64(typ)))
			for k := 0; k < 50; k++ { // blocks on scales far apart
				x := make([]float32, 512)
				for i := range x {
					x[i] = float32(r.NormFloat64() * math.Ldexp(1, r.IntN(4+k%14)-6))
				}
				_, y := roundTrip(t, typ, x, len(x), nil)
				checkBound(t, typ, "spread", x, y)
			}
			zero := make([]float32, 256)
			_, y := roundTrip(t, typ, zero, len(zero), nil)
			for i, v := range y {
				if v != 0 {
					t.Fatalf("zeros decode as %g at %d", v, i)
				}
			}
		})
	}
}

func TestQuantizeArguments(t *testing.T) {
	x := make([]float32, 512)
	dst := make([]byte, 2*144)
	if err := Quantize(gguf.TypeQ4_K, dst, x, 512, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		typ     gguf.Type
		dst     []byte
		src     []float32
		n       int
		imatrix []float32
		want    error
	}{
		{"unsupported", gguf.TypeI32, dst, x, 256, nil, ErrUnsupported},
		{"not whole rows", gguf.TypeQ4_K, dst, x[:300], 256, nil, nil},
		{"row not whole blocks", gguf.TypeQ4_K, dst, x, 128, nil, gguf.ErrFormat},
		{"zero row", gguf.TypeQ4_K, dst, x, 0, nil, nil},
		{"short dst", gguf.TypeQ4_K, dst[:100], x, 256, nil, nil},
		{"imatrix length", gguf.TypeQ4_K, dst, x, 256, make([]float32, 100), nil},
	} {
		err := Quantize(c.typ, c.dst, c.src, c.n, c.imatrix)
		if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	if err := Dequantize(gguf.TypeQ4_K, make([]float32, 256), dst); err == nil {
		t.Error("Dequantize accepted 2 blocks for 1")
	}
	if err := Dequantize(gguf.TypeQ4_K, make([]float32, 100), dst[:144]); err == nil {
		t.Error("Dequantize accepted a partial block")
	}
}

var update = flag.Bool("update", false, "rewrite testdata/golden.json")

// goldenInput is the fixed input of the golden test: 4 rows of 512, and an importance matrix.
func goldenInput() (x, imatrix []float32) {
	r := rand.New(rand.NewPCG(0x9e3779b9, 0x7f4a7c15))
	x = make([]float32, 4*512)
	for i := range x {
		x[i] = float32(r.NormFloat64() * math.Ldexp(1, r.IntN(6)-4))
	}
	x[17], x[600], x[1500] = 0, 9, -7
	clear(x[1024:1056])
	imatrix = make([]float32, 512)
	for i := range imatrix {
		imatrix[i] = float32(r.ExpFloat64())
	}
	return x, imatrix
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// TestGolden pins the encodings (and decodings) of a fixed input per type, so that changes show up
// without the llamacpp harness. Run with -update after a verified change.
func TestGolden(t *testing.T) {
	const path = "testdata/golden.json"
	golden := map[string]string{}
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &golden); err != nil {
			t.Fatal(err)
		}
	} else if !*update {
		t.Fatal(err)
	}
	x, imatrix := goldenInput()
	got := map[string]string{}
	for _, typ := range myTypes {
		for _, im := range [][]float32{nil, imatrix} {
			name := typ.String()
			if im != nil {
				name += "+imatrix"
			}
			q, y := roundTrip(t, typ, x, 512, im)
			got[name] = sha(q)
			yb := make([]byte, 4*len(y))
			for i, v := range y {
				binary.LittleEndian.PutUint32(yb[4*i:], math.Float32bits(v))
			}
			got[name+"/decoded"] = sha(yb)
		}
	}
	if *update {
		for k, v := range got {
			golden[k] = v
		}
		b, err := json.MarshalIndent(golden, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if want, ok := golden[k]; !ok {
			t.Errorf("%s: no golden hash (run with -update)", k)
		} else if got[k] != want {
			t.Errorf("%s: sha256 %s, golden %s", k, got[k], want)
		}
	}
}
