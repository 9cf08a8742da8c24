package kernels

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/ggufy/ggufy/gguf"
)

// rowLengths returns the row lengths a differential test covers for type t: one and two
// blocks, odd block counts and a model-sized row; plain types also get ragged tails.
func rowLengths(t gguf.Type) []int {
	k := kernelTable[t]
	if k.block == 1 {
		return []int{1, 2, 31, 32, 33, 64, 95, 4096}
	}
	return []int{k.block, 2 * k.block, 3 * k.block, 5 * k.block, 17 * k.block}
}

// closeEnough reports whether got is within 2e-6 of sum |w a| of want: the same products
// summed in float32 in another order.
func closeEnough(t gguf.Type, n int, w, a []byte, got, want float32) (bool, float64) {
	if got == want || math.IsNaN(float64(got)) && math.IsNaN(float64(want)) {
		return true, 0
	}
	scale := absDot(t, n, w, a)
	if !(scale <= math.MaxFloat32) && nonFinite(got) && nonFinite(want) {
		// The products overflow float32: which partial sum overflows first, and so Inf or
		// Inf-Inf = NaN, depends on the summation order.
		return true, math.Inf(1)
	}
	rel := math.Abs(float64(got)-float64(want)) / scale
	return rel <= 2e-6, rel
}

func nonFinite(f float32) bool { return math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) }

// offsetCopy returns a copy of b starting off bytes into a larger buffer, to test unaligned
// starts.
func offsetCopy(b []byte, off int) []byte {
	buf := make([]byte, len(b)+off+64)
	copy(buf[off:], b)
	return buf[off : off+len(b)]
}

func TestVecDotAsmMatchesGo(t *testing.T) {
	if !haveAsm {
		t.Skip("no assembly kernels in this build or on this CPU")
	}
	r := rand.New(rand.NewPCG(5, 6))
	for _, typ := range Types() {
		k := kernelTable[typ]
		if k.fast == nil {
			continue
		}
		t.Run(typ.String(), func(t *testing.T) {
			for _, n := range rowLengths(typ) {
				for _, mode := range []scaleMode{scaleNormal, scaleExtreme} {
					for off := 0; off < 4; off++ {
						w := offsetCopy(randWeights(r, typ, n, 1, mode), off)
						a := offsetCopy(randActRows(r, typ, n, 1, mode), 3-off)
						want := k.ref(n, w, a)
						got := k.fast(n, w, a)
						if ok, rel := closeEnough(typ, n, w, a, got, want); !ok {
							t.Errorf("n=%d mode=%d offset=%d: asm %g, go %g (error %.3g of sum |w a|)", n, mode, off, got, want, rel)
						}
					}
				}
			}
		})
	}
}

// TestDot4MatchesDot checks the four-column kernels against four one-column calls, with the
// output inside guard values and columns at unaligned strides. The quantized kernels run the
// same per-column instructions, so the results must be bit-identical; the float ones sum in
// another order.
func TestDot4MatchesDot(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, asm := range asmModes() {
		for _, typ := range Types() {
			k := kernelTable[typ]
			defer asm.set()()
			dot, dot4 := k.ref, dot4Func(nil)
			if asm.on {
				if k.fast4 == nil {
					continue
				}
				dot, dot4 = k.fast, k.fast4
			} else {
				dot4 = func(n int, w, a []byte, stride int, out *[4]float32) {
					for c := range out {
						out[c] = k.ref(n, w, a[c*stride:])
					}
				}
			}
			t.Run(asm.name+"/"+typ.String(), func(t *testing.T) {
				for _, n := range rowLengths(typ) {
					_, as, _ := RowSizes(typ, n)
					for _, pad := range []int{0, 1, 3} {
						stride := as + pad
						w := offsetCopy(randWeights(r, typ, n, 1, scaleNormal), pad)
						acts := randActRows(r, typ, n, 4, scaleExtreme)
						a := make([]byte, 4*stride+1)[1:]
						for c := 0; c < 4; c++ {
							copy(a[c*stride:], acts[c*as:(c+1)*as])
						}
						var guarded [6]float32
						for i := range guarded {
							guarded[i] = float32(math.NaN())
						}
						out := (*[4]float32)(guarded[1:5])
						dot4(n, w, a, stride, out)
						if !math.IsNaN(float64(guarded[0])) || !math.IsNaN(float64(guarded[5])) {
							t.Fatalf("n=%d: the four-column kernel wrote outside its output", n)
						}
						for c := 0; c < 4; c++ {
							ac := a[c*stride : c*stride+as]
							want := dot(n, w, ac)
							exact := typ.IsQuantized()
							same := out[c] == want || math.IsNaN(float64(out[c])) && math.IsNaN(float64(want))
							if exact && !same {
								t.Errorf("n=%d stride=%d column %d: four-column %g, one-column %g", n, stride, c, out[c], want)
							} else if ok, rel := closeEnough(typ, n, w, ac, out[c], want); !ok {
								t.Errorf("n=%d stride=%d column %d: four-column %g, one-column %g (error %.3g)", n, stride, c, out[c], want, rel)
							}
						}
					}
				}
			})
		}
	}
}

// TestDecodeStaysInside checks that the row decoders of the lattice i-quants write exactly
// their decoded size, from an unaligned weight row.
func TestDecodeStaysInside(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for _, typ := range Types() {
		k := kernelTable[typ]
		if k.decode == nil {
			continue
		}
		for _, nb := range []int{1, 3} {
			w := offsetCopy(randWeights(r, typ, nb*qkK, 1, scaleNormal), 1)
			buf := bytes.Repeat([]byte{0x5a}, nb*k.dsize+64)
			k.decode(nb, w, buf[32:32+nb*k.dsize])
			if !bytes.Equal(buf[:32], bytes.Repeat([]byte{0x5a}, 32)) || !bytes.Equal(buf[32+nb*k.dsize:], bytes.Repeat([]byte{0x5a}, 32)) {
				t.Errorf("%s: decoding %d blocks wrote outside its %d bytes", typ, nb, nb*k.dsize)
			}
		}
	}
}

func TestMatMulMatchesVecDot(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	pools := []*Pool{nil, NewPool(1), NewPool(2), NewPool(3)}
	defer func() {
		for _, p := range pools {
			p.Close()
		}
	}()
	for _, asm := range asmModes() {
		for _, typ := range Types() {
			t.Run(asm.name+"/"+typ.String(), func(t *testing.T) {
				defer asm.set()()
				k := kernelTable[typ]
				n := 2 * k.block
				if k.block == 1 {
					n = 96
				}
				for _, shape := range []struct{ rows, ncols int }{{1, 1}, {7, 5}, {33, 9}, {64, 4}} {
					ws, as, _ := RowSizes(typ, n)
					w := Matrix{Type: typ, Rows: shape.rows, Cols: n, Data: randWeights(r, typ, n, shape.rows, scaleNormal)}
					act := randActRows(r, typ, n, shape.ncols, scaleNormal)
					for pi, pool := range pools {
						buf := make([]float32, shape.rows*shape.ncols+2)
						for i := range buf {
							buf[i] = float32(math.Inf(-1))
						}
						dst := buf[1 : len(buf)-1]
						if err := MatMul(pool, dst, w, act, shape.ncols); err != nil {
							t.Fatal(err)
						}
						if !math.IsInf(float64(buf[0]), -1) || !math.IsInf(float64(buf[len(buf)-1]), -1) {
							t.Fatalf("MatMul wrote outside dst")
						}
						for c := 0; c < shape.ncols; c++ {
							for row := 0; row < shape.rows; row++ {
								wr, ar := w.Data[row*ws:(row+1)*ws], act[c*as:(c+1)*as]
								want := VecDot(typ, n, wr, ar)
								got := dst[c*shape.rows+row]
								same := got == want || math.IsNaN(float64(got)) && math.IsNaN(float64(want))
								if typ.IsQuantized() && !same {
									t.Fatalf("pool %d %dx%d col %d row %d: MatMul %g, VecDot %g", pi, shape.rows, shape.ncols, c, row, got, want)
								}
								if ok, rel := closeEnough(typ, n, wr, ar, got, want); !ok {
									t.Fatalf("pool %d col %d row %d: MatMul %g, VecDot %g (error %.3g)", pi, c, row, got, want, rel)
								}
							}
						}
					}
				}
			})
		}
	}
}

// quantInputs returns activation rows that exercise rounding and scaling edge cases.
func quantInputs(r *rand.Rand, n int) [][]float32 {
	var rows [][]float32
	for kind := 0; kind < 6; kind++ {
		x := make([]float32, n)
		for i := range x {
			switch kind {
			case 0:
				x[i] = randFloat(r)
			case 1: // exact halves after scaling by 127/127
				x[i] = float32(r.IntN(254)-127) + 0.5
				if i%32 == 0 {
					x[i] = 127
				}
			case 2: // zeros in the first half
				if i >= n/2 {
					x[i] = float32(r.NormFloat64())
				}
			case 3:
				x[i] = float32(r.NormFloat64()) * 1e-38 // subnormal territory
			case 4:
				x[i] = float32(r.NormFloat64() * math.Exp(r.NormFloat64()*8))
			case 5: // equal magnitudes of both signs: the first one sets q8_K's sign
				x[i] = float32(1 - 2*(i%2))
			}
		}
		rows = append(rows, x)
	}
	return rows
}

func TestQuantizeActivationsAsmMatchesGo(t *testing.T) {
	if !haveAsm {
		t.Skip("no assembly kernels in this build or on this CPU")
	}
	r := rand.New(rand.NewPCG(11, 12))
	for _, wt := range []gguf.Type{gguf.TypeQ8_0, gguf.TypeQ4_1, gguf.TypeQ4_K, gguf.TypeF16, gguf.TypeBF16, gguf.TypeF32} {
		for _, n := range []int{256, 512, 4096} {
			inputs := quantInputs(r, n)
			if !wt.IsQuantized() {
				// NaN, infinities and values that overflow fp16, for the float conversions
				special := make([]float32, n)
				for i := range special {
					special[i] = []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)),
						70000, -65520, 65519, 3e-8, -6e-8, float32(r.NormFloat64())}[i%9]
				}
				special[7] = math.Float32frombits(0x7fc00001) // a NaN payload
				special[8] = math.Float32frombits(0xff800001) // a signalling NaN
				inputs = append(inputs, special)
			}
			for i, src := range inputs {
				as, _ := ActivationRowSize(wt, n)
				var out [2][]byte
				for m, mode := range []asmMode{{"go", false}, {"asm", true}} {
					buf := bytes.Repeat([]byte{0xa5}, as+8)
					restore := mode.set()
					err := QuantizeActivations(wt, buf[3:3+as], src)
					restore()
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(buf[:3], []byte{0xa5, 0xa5, 0xa5}) || !bytes.Equal(buf[3+as:], bytes.Repeat([]byte{0xa5}, 5)) {
						t.Fatalf("%s %s: quantizer wrote outside its row", mode.name, wt)
					}
					out[m] = buf[3 : 3+as]
				}
				if !bytes.Equal(out[0], out[1]) {
					t.Errorf("%s n=%d input %d: asm and Go activations differ", wt, n, i)
				}
			}
		}
	}
}

func TestActivationsNeverMinus128(t *testing.T) {
	// ggml's AVX2 kernels (and ours) take |activation| through VPSIGNB, which needs quants > -128.
	// Only a block whose scale is zero (its largest magnitude is so small that 127/amax
	// overflows) holds -128s, and those contribute nothing.
	r := rand.New(rand.NewPCG(13, 14))
	for _, wt := range []gguf.Type{gguf.TypeQ8_0, gguf.TypeQ4_1, gguf.TypeQ4_K} {
		for _, src := range quantInputs(r, 512) {
			as, _ := ActivationRowSize(wt, len(src))
			dst := make([]byte, as)
			if err := QuantizeActivations(wt, dst, src); err != nil {
				t.Fatal(err)
			}
			act := kernelTable[wt].act
			bs, qo, qn := sizeQ8_0, 2, 32
			switch act {
			case gguf.TypeQ8_1:
				bs, qo = sizeQ8_1, 4
			case gguf.TypeQ8_K:
				bs, qo, qn = sizeQ8K, 4, qkK
			}
			for b := 0; b < len(dst); b += bs {
				if act == gguf.TypeQ8_K && binary.LittleEndian.Uint32(dst[b:])<<1 == 0 ||
					act != gguf.TypeQ8_K && binary.LittleEndian.Uint16(dst[b:])<<1 == 0 {
					continue // zero scale
				}
				for _, q := range dst[b+qo : b+qo+qn] {
					if int8(q) == -128 {
						t.Fatalf("%s: quant -128", act)
					}
				}
			}
		}
	}
}

func TestErrors(t *testing.T) {
	if _, err := ActivationType(gguf.TypeI32); !errors.Is(err, ErrUnsupported) {
		t.Errorf("ActivationType(i32): %v", err)
	}
	if err := QuantizeActivations(gguf.TypeQ4_K, make([]byte, 292), make([]float32, 100)); err == nil {
		t.Error("QuantizeActivations accepted 100 values for q4_K")
	}
	if err := QuantizeActivations(gguf.TypeQ4_K, make([]byte, 291), make([]float32, 256)); !errors.Is(err, ErrShape) {
		t.Errorf("QuantizeActivations with a short row: %v", err)
	}
	w := Matrix{Type: gguf.TypeQ8_0, Rows: 2, Cols: 64, Data: make([]byte, 2*68)}
	act := make([]byte, 68)
	for _, c := range []struct {
		name string
		dst  []float32
		w    Matrix
		act  []byte
		n    int
		want error
	}{
		{"ok", make([]float32, 2), w, act, 1, nil},
		{"type", make([]float32, 2), Matrix{Type: gguf.TypeI8, Rows: 2, Cols: 64, Data: make([]byte, 128)}, act, 1, ErrUnsupported},
		{"dst", make([]float32, 3), w, act, 1, ErrShape},
		{"act", make([]float32, 2), w, act[:67], 1, ErrShape},
		{"weights", make([]float32, 2), Matrix{Type: gguf.TypeQ8_0, Rows: 2, Cols: 64, Data: make([]byte, 135)}, act, 1, ErrShape},
		{"cols", make([]float32, 0), w, act[:0], 0, ErrShape},
	} {
		err := MatMul(nil, c.dst, c.w, c.act, c.n)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: MatMul error %v, want %v", c.name, err, c.want)
		}
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("VecDot with a short activation row did not panic")
			}
		}()
		VecDot(gguf.TypeQ8_0, 64, make([]byte, 68), make([]byte, 67))
	}()
}

func TestActivationTypes(t *testing.T) {
	// ggml-cpu's type_traits_cpu vec_dot_type
	want := map[gguf.Type]gguf.Type{
		gguf.TypeF32: gguf.TypeF32, gguf.TypeF16: gguf.TypeF16, gguf.TypeBF16: gguf.TypeBF16,
		gguf.TypeQ4_0: gguf.TypeQ8_0, gguf.TypeQ5_0: gguf.TypeQ8_0, gguf.TypeQ8_0: gguf.TypeQ8_0,
		gguf.TypeIQ4_NL: gguf.TypeQ8_0, gguf.TypeMXFP4: gguf.TypeQ8_0,
		gguf.TypeQ4_1: gguf.TypeQ8_1, gguf.TypeQ5_1: gguf.TypeQ8_1,
	}
	for _, typ := range Types() {
		got, err := ActivationType(typ)
		if err != nil {
			t.Fatal(err)
		}
		w, ok := want[typ]
		if !ok {
			w = gguf.TypeQ8_K
		}
		if got != w {
			t.Errorf("%s: activation type %s, want %s", typ, got, w)
		}
	}
	if len(Types()) != 25 {
		t.Errorf("%d weight types, want 25", len(Types()))
	}
}

func TestPool(t *testing.T) {
	p := NewPool(3)
	defer p.Close()
	var mu sync.Mutex
	for _, parts := range []int{0, 1, 2, 3, 7} {
		seen := map[int]int{}
		p.Run(parts, func(i int) {
			mu.Lock()
			seen[i]++
			mu.Unlock()
		})
		if len(seen) != parts {
			t.Fatalf("%d parts: ran %v", parts, seen)
		}
		for i, n := range seen {
			if n != 1 {
				t.Fatalf("%d parts: part %d ran %d times", parts, i, n)
			}
		}
	}
	// concurrent callers are serialized, not interleaved
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Go(func() {
			for range 50 {
				var n int
				var m sync.Mutex
				p.Run(3, func(int) { m.Lock(); n++; m.Unlock() })
				if n != 3 {
					t.Error(fmt.Sprint("parts ran ", n))
				}
			}
		})
	}
	wg.Wait()
}

// FuzzVecDotAsm compares the assembly and pure-Go kernels on arbitrary weight bytes (with the
// fp16 scales made finite) and activations quantized from arbitrary floats.
func FuzzVecDotAsm(f *testing.F) {
	f.Add(uint8(2), uint64(1), []byte{1, 2, 3})
	f.Add(uint8(12), uint64(7), bytes.Repeat([]byte{0xff}, 300))
	f.Fuzz(func(t *testing.T, ti uint8, seed uint64, data []byte) {
		types := Types()
		typ := types[int(ti)%len(types)]
		k := kernelTable[typ]
		if !haveAsm || k.fast == nil {
			return
		}
		r := rand.New(rand.NewPCG(seed, uint64(len(data))))
		n := k.block * (1 + int(seed%3))
		if k.block == 1 {
			n = 1 + int(seed%100)
		}
		w := randWeights(r, typ, n, 1, scaleMode(seed%2))
		for i := range w {
			if len(data) > 0 {
				w[i] ^= data[i%len(data)]
			}
		}
		// keep the scales finite after mixing in the fuzz bytes
		bs := typ.TypeSize()
		for off := 0; off < len(w); off += bs {
			for _, f := range scaleFields[typ] {
				w[off+f+1] &= 0x7b
			}
		}
		if typ == gguf.TypeMXFP4 {
			// and MXFP4's E8M0 block scales at most 2^24 (byte 0x97), like the fp16 scales
			// above: beyond that the float32 products overflow and Inf or NaN depends on
			// the summation order
			for off := 0; off < len(w); off += bs {
				w[off] = min(w[off], 0x97)
			}
		}
		if !typ.IsQuantized() {
			w = randWeights(r, typ, n, 1, scaleMode(seed%2))
		}
		if typ == gguf.TypeTQ1_0 {
			return // only the quantizer's bytes are valid (see randWeights)
		}
		a := randActRows(r, typ, n, 1, scaleMode(seed%2))
		want, got := k.ref(n, w, a), k.fast(n, w, a)
		if ok, rel := closeEnough(typ, n, w, a, got, want); !ok {
			t.Fatalf("%s n=%d: asm %g, go %g (error %.3g)", typ, n, got, want, rel)
		}
	})
}
