package kernels

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/internal/half"
)

// QuantizeActivations converts the float32 activation row src into dst in the activation format
// of weight type t (see ActivationType), byte-identical to ggml-cpu's from_float for that format
// on an AVX2 machine. len(src) must be a whole number of blocks and dst exactly the row size.
func QuantizeActivations(t gguf.Type, dst []byte, src []float32) error {
	_, as, err := RowSizes(t, len(src))
	if err != nil {
		return err
	}
	if len(dst) != as {
		return fmt.Errorf("%w: %d activation bytes for %d values of %s, want %d", ErrShape, len(dst), len(src), t, as)
	}
	quantizeAct(lookup(t).act, dst, src)
	return nil
}

// quantizeAct converts src to activation format act (f32, f16, bf16, q8_0, q8_1 or q8_K); sizes
// are already checked.
func quantizeAct(act gguf.Type, dst []byte, src []float32) {
	switch act {
	case gguf.TypeF32:
		for i, v := range src {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
		}
	case gguf.TypeF16:
		quantizeRowF16(dst, src)
	case gguf.TypeBF16:
		quantizeRowBF16(dst, src)
	case gguf.TypeQ8_0:
		quantizeRowQ8_0(dst, src)
	case gguf.TypeQ8_1:
		quantizeRowQ8_1(dst, src)
	case gguf.TypeQ8_K:
		quantizeRowQ8K(dst, src)
	default:
		panic("kernels: no activation quantizer for " + act.String())
	}
}

// quantizeRowF16Generic is ggml_cpu_fp32_to_fp16: F16C's vcvtps2ph, round to nearest even.
func quantizeRowF16Generic(dst []byte, src []float32) {
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], half.F32ToF16(v))
	}
}

// cvtps2dq is the x86 float → int32 conversion under round-to-nearest-even (VCVTPS2DQ after
// VROUNDPS): NaN and out-of-range values give 0x80000000.
func cvtps2dq(v float32) int32 {
	r := math.RoundToEven(float64(v))
	if r != r || r >= 2147483648 || r < -2147483648 {
		return math.MinInt32
	}
	return int32(r)
}

// sat8 saturates an int32 to int8 as VPACKSSDW then VPACKSSWB do.
func sat8(v int32) int8 {
	return int8(min(max(v, -128), 127))
}

// q8Block quantizes 32 values the way ggml's AVX2 quantize_row_q8_0/q8_1 do (arch/x86/quants.c,
// MIT): d = amax/127 stored as fp16, quants = round-half-even(x * (127/amax)) with saturation.
// Note that the scalar quantize_row_q8_0_ref differs: it multiplies by 1/d and rounds half away
// from zero. It returns d (float32, before fp16 rounding) and the sum of the int32 quants.
func q8Block(qs []byte, x []float32) (d float32, sum int32) {
	x = x[:32]
	qs = qs[:32]
	var amax float32
	for _, v := range x {
		a := math.Float32frombits(math.Float32bits(v) &^ (1 << 31))
		// VMAXPS returns the second operand when either is NaN; the running max is the first.
		if !(amax > a) {
			amax = a
		}
	}
	d = amax / 127
	var id float32
	if amax != 0 {
		id = 127 / amax
	}
	for j, v := range x {
		q := cvtps2dq(v * id)
		sum += q
		qs[j] = byte(sat8(q))
	}
	return d, sum
}

// quantizeRowQ8_0Generic is ggml-cpu's AVX2 quantize_row_q8_0 in Go.
func quantizeRowQ8_0Generic(dst []byte, src []float32) {
	for i := 0; i < len(src)/qk32; i++ {
		b := dst[i*sizeQ8_0 : (i+1)*sizeQ8_0]
		d, _ := q8Block(b[2:], src[i*qk32:])
		binary.LittleEndian.PutUint16(b, half.F32ToF16(d))
	}
}

// quantizeRowBF16Generic is ggml_cpu_fp32_to_bf16 (GGML_FP32_TO_BF16 per value).
func quantizeRowBF16Generic(dst []byte, src []float32) {
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], half.F32ToBF16(v))
	}
}

// quantizeRowQ8_1Generic is ggml-cpu's AVX2 quantize_row_q8_1 (arch/x86/quants.c, MIT): q8_0's block
// plus s = fp16(d * sum of the quants).
func quantizeRowQ8_1Generic(dst []byte, src []float32) {
	for i := 0; i < len(src)/qk32; i++ {
		b := dst[i*sizeQ8_1 : (i+1)*sizeQ8_1]
		d, sum := q8Block(b[4:], src[i*qk32:])
		binary.LittleEndian.PutUint16(b, half.F32ToF16(d))
		binary.LittleEndian.PutUint16(b[2:], half.F32ToF16(d*float32(sum)))
	}
}

// nearestInt is ggml's nearest_int: the float32 magic-number rounding (ties to even), valid for
// |v| < 2^22.
func nearestInt(v float32) int32 {
	f := v + 12582912
	return int32(math.Float32bits(f)&0x007fffff) - 0x00400000
}

// quantizeRowQ8KGeneric is quantize_row_q8_K_ref (ggml-quants.c, MIT), which is what ggml-cpu's
// quantize_row_q8_K runs on x86: scale -127/max of the value with the largest magnitude (the
// first one on ties), round half to even, and the sums of each 16 quants.
func quantizeRowQ8KGeneric(dst []byte, src []float32) {
	for i := 0; i < len(src)/qkK; i++ {
		b := dst[i*sizeQ8K : (i+1)*sizeQ8K]
		x := src[i*qkK : (i+1)*qkK]
		var amax, mx float32
		for _, v := range x {
			a := float32(math.Abs(float64(v)))
			if a > amax {
				amax, mx = a, v
			}
		}
		if amax == 0 {
			clear(b)
			continue
		}
		iscale := -127 / mx
		qs := b[4 : 4+qkK]
		for j, v := range x {
			qs[j] = byte(int8(min(127, nearestInt(float32(iscale*v)))))
		}
		for j := 0; j < qkK/16; j++ {
			var s int16
			for _, q := range qs[16*j : 16*j+16] {
				s += int16(int8(q))
			}
			binary.LittleEndian.PutUint16(b[4+qkK+2*j:], uint16(s))
		}
		binary.LittleEndian.PutUint32(b, math.Float32bits(1/iscale))
	}
}

// QuantizeBatch quantizes ncols activation rows (src holds them back to back, each
// len(src)/ncols values) for weights of type t into dst (ncols rows of ActivationRowSize
// bytes), splitting the rows over the pool (which may be nil).
func QuantizeBatch(pool *Pool, t gguf.Type, dst []byte, src []float32, ncols int) error {
	if ncols <= 0 || len(src)%ncols != 0 {
		return fmt.Errorf("%w: %d values are not %d whole rows", ErrShape, len(src), ncols)
	}
	n := len(src) / ncols
	_, as, err := RowSizes(t, n)
	if err != nil {
		return err
	}
	if len(dst) != as*ncols {
		return fmt.Errorf("%w: %d activation bytes for %d rows of %d", ErrShape, len(dst), ncols, as)
	}
	act := lookup(t).act
	parts := min(pool.Size(), ncols)
	pool.Run(parts, func(part int) {
		for c := ncols * part / parts; c < ncols*(part+1)/parts; c++ {
			quantizeAct(act, dst[c*as:(c+1)*as], src[c*n:(c+1)*n])
		}
	})
	return nil
}
