package quantize

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/ggufy/ggufy/gguf"
)

// fuzzValues turns fuzz bytes into whole blocks of float32 values of typ (any bit pattern) and
// an importance matrix with weights in [0.1, 10] when withImatrix.
func fuzzValues(typ gguf.Type, data []byte, withImatrix bool) (x, imatrix []float32) {
	bs := typ.BlockSize()
	if bs < gguf.QK_K {
		bs = gguf.QK_K // one row of 256 covers every block size here
	}
	n := (len(data)/4 + bs - 1) / bs * bs
	if n == 0 {
		n = bs
	}
	if n > 4*bs {
		n = 4 * bs
	}
	x = make([]float32, n)
	for i := 0; i < n && 4*i+4 <= len(data); i++ {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
	}
	if withImatrix {
		imatrix = make([]float32, n)
		for i := range imatrix {
			var b byte
			if len(data) > 0 {
				b = data[i%len(data)]
			}
			imatrix[i] = 0.1 + float32(b%100)/10
		}
	}
	return x, imatrix
}

// fuzzRoundTrip quantizes the raw values (NaN and Inf included: no panic, no error), then a
// finite copy scaled to at most 1000 in magnitude, whose decoding must stay within typ's bound.
func fuzzRoundTrip(t *testing.T, typ gguf.Type, data []byte, withImatrix bool) {
	x, imatrix := fuzzValues(typ, data, withImatrix)
	roundTrip(t, typ, x, len(x), imatrix)

	var amax float64
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			x[i] = 0
		}
		amax = math.Max(amax, math.Abs(float64(x[i])))
	}
	if amax > 1000 {
		s := 1000 / amax
		for i := range x {
			x[i] = float32(float64(x[i]) * s)
		}
	}
	_, y := roundTrip(t, typ, x, len(x), imatrix)
	checkBound(t, typ, "fuzz", x, y)
}

func addFuzzSeeds(f *testing.F, withType bool) {
	seed := func(vals ...float32) []byte {
		b := make([]byte, 4*len(vals))
		for i, v := range vals {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		return b
	}
	ramp := make([]float32, 256)
	for i := range ramp {
		ramp[i] = float32(i-128) / 37
	}
	inputs := [][]byte{
		nil,
		seed(ramp...),
		seed(1, -2, 3.5, 0, 0, 1e-30, 1e30, -7),
		seed(float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 1),
		seed(ramp[:40]...),
	}
	for i, in := range inputs {
		if withType {
			f.Add(uint8(i*5), in, i%2 == 0)
		} else {
			f.Add(in, i%2 == 0)
		}
	}
}

func FuzzQuantize(f *testing.F) {
	addFuzzSeeds(f, true)
	f.Fuzz(func(t *testing.T, which uint8, data []byte, withImatrix bool) {
		fuzzRoundTrip(t, myTypes[int(which)%len(myTypes)], data, withImatrix)
	})
}

func FuzzQuantizeQ8_0(f *testing.F) {
	addFuzzSeeds(f, false)
	f.Fuzz(func(t *testing.T, data []byte, withImatrix bool) {
		fuzzRoundTrip(t, gguf.TypeQ8_0, data, withImatrix)
	})
}

func FuzzQuantizeQ4_K(f *testing.F) {
	addFuzzSeeds(f, false)
	f.Fuzz(func(t *testing.T, data []byte, withImatrix bool) {
		fuzzRoundTrip(t, gguf.TypeQ4_K, data, withImatrix)
	})
}
