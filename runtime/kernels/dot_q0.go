package kernels

import (
	"encoding/binary"
	"math"

	"github.com/ggufy/ggufy/internal/half"
)

// Pure-Go dot products of the 32-value block types against q8_0/q8_1 activations, after ggml's
// generic kernels (ggml-cpu/quants.c, MIT): an exact integer dot per block, times the product of
// the two scales, summed in float32.

// fp16 reads the little-endian fp16 at b[0:2] as float32.
func fp16(b []byte) float32 { return half.F16ToF32(binary.LittleEndian.Uint16(b)) }

// kvaluesIQ4NL are the IQ4_NL/IQ4_XS non-linear levels (ggml-common.h kvalues_iq4nl).
var kvaluesIQ4NL = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

// kvaluesMXFP4 are the e2m1 levels, doubled (ggml-common.h kvalues_fp4).
var kvaluesMXFP4 = [16]int8{0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12}

// e8m0Half is GGML_E8M0_TO_FP32_HALF: 2^(e-128) as float32, with the two subnormal cases.
func e8m0Half(e uint8) float32 {
	if e < 2 {
		return math.Float32frombits(0x00200000 << e)
	}
	return math.Float32frombits(uint32(e-1) << 23)
}

func dotQ8_0(n int, w, a []byte) float32 {
	nb := n / qk32
	w, a = w[:nb*sizeQ8_0], a[:nb*sizeQ8_0]
	var sum float32
	for i := 0; i < nb; i++ {
		x := w[i*sizeQ8_0 : (i+1)*sizeQ8_0]
		y := a[i*sizeQ8_0 : (i+1)*sizeQ8_0]
		var s int32
		for j := 2; j < sizeQ8_0; j++ {
			s += int32(int8(x[j])) * int32(int8(y[j]))
		}
		sum += float32(float32(s) * float32(fp16(x)*fp16(y)))
	}
	return sum
}

func dotQ4_0(n int, w, a []byte) float32 {
	nb := n / qk32
	w, a = w[:nb*sizeQ4_0], a[:nb*sizeQ8_0]
	var sum float32
	for i := 0; i < nb; i++ {
		x := w[i*sizeQ4_0 : (i+1)*sizeQ4_0]
		y := a[i*sizeQ8_0 : (i+1)*sizeQ8_0]
		qs, q8 := x[2:18], y[2:34]
		var s int32
		for j := 0; j < 16; j++ {
			s += (int32(qs[j]&0xf) - 8) * int32(int8(q8[j]))
			s += (int32(qs[j]>>4) - 8) * int32(int8(q8[j+16]))
		}
		sum += float32(float32(s) * float32(fp16(x)*fp16(y)))
	}
	return sum
}

func dotQ4_1(n int, w, a []byte) float32 {
	nb := n / qk32
	w, a = w[:nb*sizeQ4_1], a[:nb*sizeQ8_1]
	var sum float32
	for i := 0; i < nb; i++ {
		x := w[i*sizeQ4_1 : (i+1)*sizeQ4_1]
		y := a[i*sizeQ8_1 : (i+1)*sizeQ8_1]
		qs, q8 := x[4:20], y[4:36]
		var s int32
		for j := 0; j < 16; j++ {
			s += int32(qs[j]&0xf) * int32(int8(q8[j]))
			s += int32(qs[j]>>4) * int32(int8(q8[j+16]))
		}
		sum += float32(float32(fp16(x)*fp16(y))*float32(s)) + float32(fp16(x[2:])*fp16(y[2:]))
	}
	return sum
}

func dotQ5_0(n int, w, a []byte) float32 {
	nb := n / qk32
	w, a = w[:nb*sizeQ5_0], a[:nb*sizeQ8_0]
	var sum float32
	for i := 0; i < nb; i++ {
		x := w[i*sizeQ5_0 : (i+1)*sizeQ5_0]
		y := a[i*sizeQ8_0 : (i+1)*sizeQ8_0]
		qh := binary.LittleEndian.Uint32(x[2:])
		qs, q8 := x[6:22], y[2:34]
		var s int32
		for j := 0; j < 16; j++ {
			x0 := int32(qs[j]&0xf|byte(qh>>j&1)<<4) - 16
			x1 := int32(qs[j]>>4|byte(qh>>(j+16)&1)<<4) - 16
			s += x0*int32(int8(q8[j])) + x1*int32(int8(q8[j+16]))
		}
		sum += float32(float32(s) * float32(fp16(x)*fp16(y)))
	}
	return sum
}

func dotQ5_1(n int, w, a []byte) float32 {
	nb := n / qk32
	w, a = w[:nb*sizeQ5_1], a[:nb*sizeQ8_1]
	var sum float32
	for i := 0; i < nb; i++ {
		x := w[i*sizeQ5_1 : (i+1)*sizeQ5_1]
		y := a[i*sizeQ8_1 : (i+1)*sizeQ8_1]
		qh := binary.LittleEndian.Uint32(x[4:])
		qs, q8 := x[8:24], y[4:36]
		var s int32
		for j := 0; j < 16; j++ {
			x0 := int32(qs[j]&0xf | byte(qh>>j&1)<<4)
			x1 := int32(qs[j]>>4 | byte(qh>>(j+16)&1)<<4)
			s += x0*int32(int8(q8[j])) + x1*int32(int8(q8[j+16]))
		}
		sum += float32(float32(fp16(x)*fp16(y))*float32(s)) + float32(fp16(x[2:])*fp16(y[2:]))
	}
	return sum
}

func dotIQ4NL(n int, w, a []byte) float32 {
	nb := n / qk32
	w, a = w[:nb*sizeIQ4NL], a[:nb*sizeQ8_0]
	var sum float32
	for i := 0; i < nb; i++ {
		x := w[i*sizeIQ4NL : (i+1)*sizeIQ4NL]
		y := a[i*sizeQ8_0 : (i+1)*sizeQ8_0]
		qs, q8 := x[2:18], y[2:34]
		var s int32
		for j := 0; j < 16; j++ {
			s += int32(kvaluesIQ4NL[qs[j]&0xf]) * int32(int8(q8[j]))
			s += int32(kvaluesIQ4NL[qs[j]>>4]) * int32(int8(q8[j+16]))
		}
		sum += float32(float32(fp16(y)*fp16(x)) * float32(s))
	}
	return sum
}

func dotMXFP4(n int, w, a []byte) float32 {
	nb := n / qk32
	w, a = w[:nb*sizeMXFP4], a[:nb*sizeQ8_0]
	var sum float32
	for i := 0; i < nb; i++ {
		x := w[i*sizeMXFP4 : (i+1)*sizeMXFP4]
		y := a[i*sizeQ8_0 : (i+1)*sizeQ8_0]
		qs, q8 := x[1:17], y[2:34]
		var s int32
		for j := 0; j < 16; j++ {
			s += int32(kvaluesMXFP4[qs[j]&0xf]) * int32(int8(q8[j]))
			s += int32(kvaluesMXFP4[qs[j]>>4]) * int32(int8(q8[j+16]))
		}
		sum += float32(float32(fp16(y)*e8m0Half(x[0])) * float32(s))
	}
	return sum
}
