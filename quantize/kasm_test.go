package quantize

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ggufy/ggufy/gguf"
)

// kasmTypes are the types whose encoders have lane kernels (kasm_amd64.go).
var kasmTypes = []gguf.Type{gguf.TypeQ4_K, gguf.TypeQ5_K, gguf.TypeQ6_K, gguf.TypeQ2_K, gguf.TypeQ3_K}

// encodeWith encodes src with the lane kernels on or off.
func encodeWith(tb testing.TB, asm bool, typ gguf.Type, src []float32, nPerRow int, im []float32) []byte {
	tb.Helper()
	old := useAsm
	useAsm = asm
	defer func() { useAsm = old }()
	size, err := typ.RowSize(int64(len(src)))
	if err != nil {
		tb.Fatal(err)
	}
	dst := make([]byte, size)
	if err := Quantize(typ, dst, src, nPerRow, im); err != nil {
		tb.Fatal(err)
	}
	return dst
}

// kasmImatrices are the importance matrices every input is encoded with: none, dense, sparse
// (zero weights), and one with huge and tiny weights.
func kasmImatrices(n int) [][]float32 {
	r := rand.New(rand.NewPCG(3, uint64(n)))
	dense, sparse, wild := make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range dense {
		dense[i] = float32(r.ExpFloat64())
		if r.IntN(3) == 0 {
			sparse[i] = float32(r.ExpFloat64() * 100)
		}
		wild[i] = float32(math.Ldexp(r.Float64(), r.IntN(60)-30))
	}
	return [][]float32{nil, dense, sparse, wild}
}

// TestLaneKernelsMatchGo requires the lane kernels to give the pure-Go encoders' bytes on every
// test input, with and without importance matrices, for odd and even block counts (the Q4_K
// and Q5_K kernels take two blocks at a time), NaN and ±Inf included. The pure-Go encoders are
// themselves compared with ggml (-tags llamacpp).
func TestLaneKernelsMatchGo(t *testing.T) {
	if !haveAsm {
		t.Skip("this CPU or build has no lane kernels; the pure-Go encoders run everywhere")
	}
	r := rand.New(rand.NewPCG(21, 22))
	var ins []testInput
	for _, nPerRow := range []int{gguf.QK_K, 3 * gguf.QK_K, 4096} {
		ins = append(ins, testInputs(t, nPerRow)...)
	}
	nonFinite := normalRows(r, 3*gguf.QK_K, 1)
	for i := 0; i < len(nonFinite); i += 37 {
		nonFinite[i] = []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), math.MaxFloat32}[i%4]
	}
	ins = append(ins, testInput{"non-finite", 3 * gguf.QK_K, nonFinite})
	scaled := make([]float32, 64*gguf.QK_K)
	for i := range scaled { // every group on its own binary scale, some exactly zero
		if r.IntN(5) > 0 {
			scaled[i] = float32(math.Ldexp(r.NormFloat64(), (i/16)%80-40))
		}
	}
	ins = append(ins, testInput{"scaled-groups", gguf.QK_K, scaled})

	for _, typ := range kasmTypes {
		for _, in := range ins {
			for k, im := range kasmImatrices(in.nPerRow) {
				name := fmt.Sprintf("%s/%s/n%d/imatrix%d", typ, in.name, in.nPerRow, k)
				want := encodeWith(t, false, typ, in.src, in.nPerRow, im)
				got := encodeWith(t, true, typ, in.src, in.nPerRow, im)
				if !bytes.Equal(got, want) {
					t.Errorf("%s: lane kernels differ from the Go encoder: %s", name, describeBlockDiff(typ, in.src, got, want))
				}
			}
		}
	}
}

// FuzzLaneKernels compares the lane kernels with the pure-Go encoders on arbitrary bit patterns.
func FuzzLaneKernels(f *testing.F) {
	f.Add([]byte{0, 0, 128, 63}, uint8(0), false)
	f.Add(bytes.Repeat([]byte{1, 2, 3, 250}, 300), uint8(2), true)
	f.Add(bytes.Repeat([]byte{7, 0, 32, 190, 1, 2, 3, 61}, 200), uint8(3), false)
	f.Add(bytes.Repeat([]byte{9, 4, 200, 64, 0, 0, 1, 0}, 150), uint8(4), true)
	f.Fuzz(func(t *testing.T, b []byte, typSel uint8, withImatrix bool) {
		if !haveAsm {
			t.Skip("no lane kernels")
		}
		typ := kasmTypes[int(typSel)%len(kasmTypes)]
		n := 2 * gguf.QK_K
		src := make([]float32, n)
		var im []float32
		if withImatrix {
			im = make([]float32, n)
		}
		for i := range src {
			if len(b) == 0 {
				break
			}
			j := 4 * i % len(b)
			var u uint32
			for k := 0; k < 4; k++ {
				u |= uint32(b[(j+k)%len(b)]) << (8 * k)
			}
			src[i] = math.Float32frombits(u)
			if im != nil {
				im[i] = float32(math.Abs(float64(math.Float32frombits(u ^ 0x5a5a5a5a))))
			}
		}
		want := encodeWith(t, false, typ, src, n, im)
		got := encodeWith(t, true, typ, src, n, im)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: lane kernels differ: %s", typ, describeBlockDiff(typ, src, got, want))
		}
	})
}

// describeBlockDiff reports the first block where got and want differ, with the block's input and
// both decodings.
func describeBlockDiff(t gguf.Type, src []float32, got, want []byte) string {
	bs, ts := t.BlockSize(), t.TypeSize()
	for b := 0; b*ts < len(got); b++ {
		g, w := got[b*ts:(b+1)*ts], want[b*ts:(b+1)*ts]
		if bytes.Equal(g, w) {
			continue
		}
		var sb strings.Builder
		fmt.Fprintf(&sb, "first differing block %d of %d (values %d..%d)\n", b, len(got)/ts, b*bs, (b+1)*bs-1)
		fmt.Fprintf(&sb, "  got  %x\n  want %x\n", g, w)
		for i := range g {
			if g[i] != w[i] {
				fmt.Fprintf(&sb, "  first differing byte %d: got %#02x want %#02x\n", i, g[i], w[i])
				break
			}
		}
		x := src[b*bs : (b+1)*bs]
		gd, wd := make([]float32, bs), make([]float32, bs)
		if Dequantize(t, gd, g) == nil && Dequantize(t, wd, w) == nil {
			for i := range x {
				mark := ""
				if math.Float32bits(gd[i]) != math.Float32bits(wd[i]) {
					mark = "  <-"
				}
				fmt.Fprintf(&sb, "  [%3d] x=% .9g got=% .9g want=% .9g%s\n", i, x[i], gd[i], wd[i], mark)
			}
		} else {
			fmt.Fprintf(&sb, "  x=%v\n", x)
		}
		return sb.String()
	}
	return "no difference"
}
