//go:build llamacpp

package quantize

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
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

// TestGGMLNonFinite compares the encodings of rows holding NaN and ±Inf; the reference output is
// well defined for the plain types only, so for the block types it is reported, not required.
func TestGGMLNonFinite(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	src := make([]float32, 2*gguf.QK_K)
	r := rand.New(rand.NewPCG(5, 6))
	for i := range src {
		src[i] = float32(r.NormFloat64())
	}
	src[3], src[40], src[300], src[301] = nan, inf, -inf, nan
	for _, typ := range myTypes {
		want, err := ggmlQuantize(typ, src, len(src), nil)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(want))
		if err := Quantize(typ, got, src, len(src), nil); err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(got, want) {
			t.Logf("%s: identical with NaN/Inf input", typ)
			continue
		}
		switch typ {
		case gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16:
			t.Errorf("%s: NaN/Inf encoding differs: %s", typ, describeBlockDiff(typ, src, got, want))
		default:
			t.Logf("%s: NaN/Inf encoding differs from ggml (undefined behaviour in C)", typ)
		}
	}
}
