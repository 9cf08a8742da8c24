package kernels

import (
	"encoding/binary"
	"math"
	"math/rand/v2"

	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/internal/half"
)

// scaleFields lists, per weight type, the byte offsets of the fp16 scales inside one block, so
// that random blocks get sane scales (random bytes there would be NaN or infinity at times).
var scaleFields = map[gguf.Type][]int{
	gguf.TypeQ4_0: {0}, gguf.TypeQ4_1: {0, 2}, gguf.TypeQ5_0: {0}, gguf.TypeQ5_1: {0, 2},
	gguf.TypeQ8_0: {0}, gguf.TypeIQ4_NL: {0},
	gguf.TypeQ2_K: {80, 82}, gguf.TypeQ3_K: {108}, gguf.TypeQ4_K: {0, 2}, gguf.TypeQ5_K: {0, 2},
	gguf.TypeQ6_K: {208}, gguf.TypeIQ4_XS: {0},
	gguf.TypeIQ2_XXS: {0}, gguf.TypeIQ2_XS: {0}, gguf.TypeIQ2_S: {0}, gguf.TypeIQ3_XXS: {0},
	gguf.TypeIQ3_S: {0}, gguf.TypeIQ1_S: {0},
	gguf.TypeTQ1_0: {52}, gguf.TypeTQ2_0: {64},
}

// scaleMode picks the kind of fp16 scale a random block gets.
type scaleMode int

const (
	scaleNormal  scaleMode = iota // ±[1e-4, 1e-1]
	scaleExtreme                  // zero, subnormal, max, negative, tiny normal, mixed
)

// randScale returns an fp16 scale.
func randScale(r *rand.Rand, mode scaleMode) uint16 {
	if mode == scaleExtreme {
		switch r.IntN(6) {
		case 0:
			return 0 // zero
		case 1:
			return 0x8000 // negative zero
		case 2:
			return uint16(1 + r.IntN(0x3ff)) // subnormal
		case 3:
			return 0x7bff | uint16(r.IntN(2))<<15 // ±65504
		case 4:
			return 0x0400 | uint16(r.IntN(2))<<15 // ±smallest normal
		}
	}
	v := float32(math.Exp(r.Float64()*math.Log(1000))) * 1e-4
	if r.IntN(2) == 0 {
		v = -v
	}
	return half.F32ToF16(v)
}

// randFloat returns a value of a random float distribution, occasionally an outlier.
func randFloat(r *rand.Rand) float32 {
	v := float32(r.NormFloat64())
	if r.IntN(64) == 0 {
		v *= 50
	}
	return v
}

// randWeights returns nrows rows of n values of type t made of random bytes with sane scales
// (plain types get random finite values). Every bit pattern of the quants occurs.
func randWeights(r *rand.Rand, t gguf.Type, n, nrows int, mode scaleMode) []byte {
	rs, _ := t.RowSize(int64(n))
	b := make([]byte, int(rs)*nrows)
	switch t {
	case gguf.TypeF32:
		for i := 0; i < n*nrows; i++ {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(randFloat(r)))
		}
		return b
	case gguf.TypeF16:
		for i := 0; i < n*nrows; i++ {
			v := randFloat(r)
			if mode == scaleExtreme && r.IntN(8) == 0 {
				binary.LittleEndian.PutUint16(b[2*i:], randScale(r, mode))
				continue
			}
			binary.LittleEndian.PutUint16(b[2*i:], half.F32ToF16(v))
		}
		return b
	case gguf.TypeBF16:
		for i := 0; i < n*nrows; i++ {
			binary.LittleEndian.PutUint16(b[2*i:], half.F32ToBF16(randFloat(r)))
		}
		return b
	}
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	bs := t.TypeSize()
	for off := 0; off < len(b); off += bs {
		blk := b[off : off+bs]
		for _, f := range scaleFields[t] {
			binary.LittleEndian.PutUint16(blk[f:], randScale(r, mode))
		}
		switch t {
		case gguf.TypeMXFP4:
			blk[0] = byte(100 + r.IntN(40)) // 2^-28 .. 2^12
			if mode == scaleExtreme && r.IntN(3) == 0 {
				blk[0] = []byte{0, 1, 2, 150}[r.IntN(4)]
			}
		case gguf.TypeIQ1_M:
			// the fp16 scale is spread over the top nibbles of the four scale words
			s := randScale(r, mode)
			for k := 0; k < 4; k++ {
				blk[48+2*k+1] = blk[48+2*k+1]&0x0f | byte(s>>(4*k))<<4&0xf0
			}
		case gguf.TypeTQ1_0:
			// Only the bytes the quantizer writes (five or four base-3 digits, scaled by 256/243
			// rounding up): ggml's AVX2 digit extraction is exact for those alone.
			for j := 0; j < 48; j++ {
				blk[j] = byte((r.IntN(243)*256 + 242) / 243)
			}
			for j := 48; j < 52; j++ {
				blk[j] = byte((3*r.IntN(81)*256 + 242) / 243)
			}
		}
	}
	return b
}

// randActRows returns ncols activation rows for weight type t, quantized from random floats;
// in extreme mode some blocks hold ±127 quants and extreme scales, built directly.
func randActRows(r *rand.Rand, t gguf.Type, n, ncols int, mode scaleMode) []byte {
	as, err := ActivationRowSize(t, n)
	if err != nil {
		panic(err)
	}
	b := make([]byte, as*ncols)
	src := make([]float32, n)
	for c := 0; c < ncols; c++ {
		for i := range src {
			src[i] = randFloat(r)
		}
		row := b[c*as : (c+1)*as]
		quantizeAct(kernelTable[t].act, row, src)
		if mode == scaleExtreme {
			extremeActs(r, kernelTable[t].act, row)
		}
	}
	return b
}

// extremeActs overwrites some blocks of an activation row with saturated quants (±127; never
// -128, which no quantizer produces and ggml's AVX2 sign trick cannot take) and extreme scales.
func extremeActs(r *rand.Rand, act gguf.Type, row []byte) {
	switch act {
	case gguf.TypeQ8_0, gguf.TypeQ8_1:
		bs, qo := sizeQ8_0, 2
		if act == gguf.TypeQ8_1 {
			bs, qo = sizeQ8_1, 4
		}
		for off := 0; off < len(row); off += bs {
			if r.IntN(2) == 0 {
				continue
			}
			blk := row[off : off+bs]
			var sum int32
			for j := qo; j < bs; j++ {
				q := int8(127)
				if r.IntN(2) == 0 {
					q = -127
				}
				blk[j] = byte(q)
				sum += int32(q)
			}
			d := randScale(r, scaleExtreme)
			binary.LittleEndian.PutUint16(blk, d)
			if act == gguf.TypeQ8_1 {
				binary.LittleEndian.PutUint16(blk[2:], half.F32ToF16(half.F16ToF32(d)*float32(sum)))
			}
		}
	case gguf.TypeQ8_K:
		for off := 0; off < len(row); off += sizeQ8K {
			if r.IntN(2) == 0 {
				continue
			}
			blk := row[off : off+sizeQ8K]
			for j := 0; j < qkK/16; j++ {
				var s int16
				for l := 0; l < 16; l++ {
					q := int8(127)
					if r.IntN(2) == 0 {
						q = -127
					}
					blk[4+16*j+l] = byte(q)
					s += int16(q)
				}
				binary.LittleEndian.PutUint16(blk[4+qkK+2*j:], uint16(s))
			}
			d := []float32{0, 1e-30, 1e-3, 3e4, -2e-2}[r.IntN(5)]
			binary.LittleEndian.PutUint32(blk, math.Float32bits(d))
		}
	}
}

// dequantAct returns the float values of an activation row.
func dequantAct(act gguf.Type, row []byte, n int) []float64 {
	v := make([]float64, n)
	switch act {
	case gguf.TypeF32:
		for i := range v {
			v[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(row[4*i:])))
		}
	case gguf.TypeF16:
		for i := range v {
			v[i] = float64(half.F16ToF32(binary.LittleEndian.Uint16(row[2*i:])))
		}
	case gguf.TypeBF16:
		for i := range v {
			v[i] = float64(half.BF16ToF32(binary.LittleEndian.Uint16(row[2*i:])))
		}
	case gguf.TypeQ8_0, gguf.TypeQ8_1:
		bs, qo := sizeQ8_0, 2
		if act == gguf.TypeQ8_1 {
			bs, qo = sizeQ8_1, 4
		}
		for i := range v {
			b := row[i/32*bs:]
			v[i] = float64(fp16(b)) * float64(int8(b[qo+i%32]))
		}
	case gguf.TypeQ8_K:
		for i := range v {
			b := row[i/qkK*sizeQ8K:]
			v[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b))) * float64(int8(b[4+i%qkK]))
		}
	}
	return v
}

// dequantWeights returns the float values of a weight row, read back through the pure-Go dot
// product against one-hot activations (quant 1 at one position, scale 1), which is exact.
func dequantWeights(t gguf.Type, n int, w []byte) []float64 {
	k := kernelTable[t]
	if k.block == 1 {
		one := make([]byte, 4)
		quantizeAct(k.act, one[:t.TypeSize()], []float32{1})
		v := make([]float64, n)
		for i := range v {
			v[i] = float64(k.ref(1, w[i*t.TypeSize():], one))
		}
		return v
	}
	ws, as, _ := RowSizes(t, k.block)
	hot := make([]byte, as)
	v := make([]float64, n)
	for i := range v {
		clear(hot)
		j := i % k.block
		switch k.act {
		case gguf.TypeQ8_0:
			b := hot[j/32*sizeQ8_0:]
			binary.LittleEndian.PutUint16(b, 0x3c00)
			b[2+j%32] = 1
		case gguf.TypeQ8_1:
			b := hot[j/32*sizeQ8_1:]
			binary.LittleEndian.PutUint16(b, 0x3c00)
			binary.LittleEndian.PutUint16(b[2:], 0x3c00)
			b[4+j%32] = 1
		case gguf.TypeQ8_K:
			binary.LittleEndian.PutUint32(hot, math.Float32bits(1))
			hot[4+j] = 1
			binary.LittleEndian.PutUint16(hot[4+qkK+2*(j/16):], 1)
		}
		v[i] = float64(k.ref(k.block, w[i/k.block*ws:], hot))
	}
	return v
}

// absDot returns the sum of |w_i a_i|: the scale of the rounding error a float32 sum of the
// products may make in any order.
func absDot(t gguf.Type, n int, w, a []byte) float64 {
	wv := dequantWeights(t, n, w)
	av := dequantAct(kernelTable[t].act, a, n)
	var s float64
	for i := range wv {
		s += math.Abs(wv[i] * av[i])
	}
	return s
}

// blockAbsSum returns the sum over blocks of |the block's dot product| (pure Go): a scale for
// the rounding error that a different float summation order may cause.
func blockAbsSum(t gguf.Type, n int, w, a []byte) float64 {
	k := kernelTable[t]
	bl := k.block
	if bl == 1 {
		bl = 32
		if n%bl != 0 {
			bl = n
		}
	}
	ws, as, _ := RowSizes(t, bl)
	var s float64
	for i := 0; i < n/bl; i++ {
		s += math.Abs(float64(k.ref(bl, w[i*ws:], a[i*as:])))
	}
	return s
}
