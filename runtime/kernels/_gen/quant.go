package main

import (
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// Activation quantizers: ggml-cpu's AVX2 quantize_row_q8_0 (arch/x86/quants.c, MIT), a
// vectorized quantize_row_q8_K_ref (ggml-quants.c, MIT) giving the same bytes, and
// ggml_cpu_fp32_to_fp16's F16C loop.

func f32Const(name string, v float32) Mem {
	b := make([]byte, 32)
	u := math.Float32bits(v)
	for i := 0; i < 32; i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	}
	return bytesConst(name, b)
}

func u32Const(name string, u uint32) Mem {
	b := make([]byte, 32)
	for i := 0; i < 32; i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	}
	return bytesConst(name, b)
}

// packPerm is the VPERMD index that undoes the lane interleaving of VPACKSSDW+VPACKSSWB.
func packPerm() Mem {
	idx := []uint32{0, 4, 1, 5, 2, 6, 3, 7}
	b := make([]byte, 32)
	for i, v := range idx {
		b[4*i] = byte(v)
	}
	return bytesConst("packPerm", b)
}

// pack32trunc stores the low bytes of four YMM registers of int32 (32 values in order), as C's
// conversion to int8_t does (and ggml's compiled quantize_row_q8_K_ref: mask, then unsigned
// packs): out-of-range values, which only an overflowing scale makes, wrap instead of saturating.
func pack32trunc(i []VecVirtual, perm VecVirtual, m Mem) {
	for _, v := range i {
		VPAND(u32Const("lowByte", 0xff), v, v)
	}
	VPACKUSDW(i[1], i[0], i[0])
	VPACKUSDW(i[3], i[2], i[2])
	VPACKUSWB(i[2], i[0], i[0])
	VPERMD(i[0], perm, i[0])
	VMOVDQU(i[0], m)
}

// pack32 packs four YMM registers of int32 (32 values in order) into 32 signed bytes with
// saturation, in order, and stores them at m.
func pack32(i []VecVirtual, perm VecVirtual, m Mem) {
	VPACKSSDW(i[1], i[0], i[0])
	VPACKSSDW(i[3], i[2], i[2])
	VPACKSSWB(i[2], i[0], i[0])
	VPERMD(i[0], perm, i[0])
	VMOVDQU(i[0], m)
}

func genQuantQ8_0() {
	genQuantQ8x(false)
	genQuantQ8x(true)
}

// genQuantQ8x emits quantize_row_q8_0, or with q81 quantize_row_q8_1 (the same quants, the
// scale at 0 and s = fp16(d * sum of the quants) at 2).
func genQuantQ8x(q81 bool) {
	name, bsize, qoff := "quantizeQ8_0AVX2", 34, 2
	if q81 {
		name, bsize, qoff = "quantizeQ8_1AVX2", 36, 4
	}
	TEXT(name, NOSPLIT, "func(nb int, x *float32, y *byte)")
	Pragma("noescape")
	Doc(name + " is ggml-cpu's AVX2 quantize_row_q8_0 (q8_1) over nb blocks of 32 values.")
	nb := Load(Param("nb"), GP64())
	x := Load(Param("x"), GP64())
	y := Load(Param("y"), GP64())
	perm := YMM()
	VMOVDQU(packPerm(), perm)
	Label(name + "_loop")
	v := make([]VecVirtual, 4)
	for j := range v {
		v[j] = YMM()
		VMOVUPS(Mem{Base: x, Disp: 32 * j}, v[j])
	}
	absMask := u32Const("absMask", 0x7fffffff)
	m := YMM()
	VANDPS(absMask, v[0], m)
	for j := 1; j < 4; j++ {
		t := YMM()
		VANDPS(absMask, v[j], t)
		VMAXPS(t, m, m)
	}
	m4, t := XMM(), XMM()
	VEXTRACTF128(U8(1), m, m4)
	VMAXPS(m.AsX(), m4, m4)
	VMOVHLPS(m4, m4, t)
	VMAXPS(t, m4, m4)
	VMOVSHDUP(m4, t)
	VMAXSS(t, m4, m4)
	// d = max/127 as fp16
	d := XMM()
	VDIVSS(f32Const("f127", 127), m4, d)
	VCVTPS2PH(U8(0), d, d)
	VPEXTRW(U8(0), d, Mem{Base: y})
	// id = max != 0 ? 127/max : 0
	id, z, nz := XMM(), XMM(), XMM()
	VMOVSS(f32Const("f127", 127), id)
	VDIVSS(m4, id, id)
	VXORPS(z, z, z)
	VCMPSS(U8(4), z, m4, nz)
	VANDPS(nz, id, id)
	mul := YMM()
	VBROADCASTSS(id, mul)
	for j := range v {
		VMULPS(mul, v[j], v[j])
		VROUNDPS(U8(0), v[j], v[j])
		VCVTPS2DQ(v[j], v[j])
	}
	if q81 {
		// s = fp16(d * hsum_i32_8(i0+i1+i2+i3)), d unrounded
		t, u := YMM(), YMM()
		VPADDD(v[1], v[0], t)
		VPADDD(v[3], v[2], u)
		VPADDD(u, t, t)
		h := hsumI32(t)
		VCVTDQ2PS(h, h)
		dd := XMM()
		VDIVSS(f32Const("f127", 127), m4, dd)
		VMULSS(h, dd, dd)
		VCVTPS2PH(U8(0), dd, dd)
		VPEXTRW(U8(0), dd, Mem{Base: y, Disp: 2})
	}
	pack32(v, perm, Mem{Base: y, Disp: qoff})
	ADDQ(U32(128), x)
	ADDQ(U32(bsize), y)
	DECQ(nb)
	JNZ(LabelRef(name + "_loop"))
	VZEROUPPER()
	RET()
}

func genQuantQ8K() {
	TEXT("quantizeQ8KAVX2", NOSPLIT, "func(nb int, x *float32, y *byte)")
	Pragma("noescape")
	Doc("quantizeQ8KAVX2 is quantize_row_q8_K_ref over nb blocks of 256 values, vectorized.")
	nb := Load(Param("nb"), GP64())
	x := Load(Param("x"), GP64())
	y := Load(Param("y"), GP64())
	absMask := YMM()
	VMOVUPS(u32Const("absMask", 0x7fffffff), absMask)
	Label("q8_K_loop")
	// amax = max |x|
	mx := make([]VecVirtual, 4)
	for j := range mx {
		mx[j] = YMM()
		VANDPS(Mem{Base: x, Disp: 32 * j}, absMask, mx[j])
	}
	amax := quantizeQ8KMax(x, absMask, mx)
	// an all-zero block: d = 0, quants and sums 0
	z := XMM()
	VXORPS(z, z, z)
	VUCOMISS(z, amax)
	JNE(LabelRef("q8_K_nonzero"))
	JP(LabelRef("q8_K_nonzero"))
	zy := YMM()
	VPXOR(zy, zy, zy)
	for off := 0; off+32 <= 288; off += 32 {
		VMOVDQU(zy, Mem{Base: y, Disp: off})
	}
	MOVL(U32(0), Mem{Base: y, Disp: 288})
	JMP(LabelRef("q8_K_next"))
	Label("q8_K_nonzero")
	// the first value whose magnitude is amax
	ab := YMM()
	VBROADCASTSS(amax, ab)
	idx := GP64()
	XORQ(idx, idx)
	Label("q8_K_find")
	t := YMM()
	VANDPS(Mem{Base: x, Index: idx, Scale: 4}, absMask, t)
	VCMPPS(U8(0), ab, t, t)
	mask := GP32()
	VMOVMSKPS(t, mask)
	ADDQ(U8(8), idx)
	TESTL(mask, mask)
	JZ(LabelRef("q8_K_find"))
	SUBQ(U8(8), idx)
	bit := GP32()
	BSFL(mask, bit)
	ADDQ(bit.As64(), idx)
	maxv := XMM()
	VMOVSS(Mem{Base: x, Index: idx, Scale: 4}, maxv)
	// iscale = -127/max; quants = min(127, nearest_int(iscale*x))
	isc := XMM()
	VMOVSS(f32Const("fm127", -127), isc)
	VDIVSS(maxv, isc, isc)
	iv := YMM()
	VBROADCASTSS(isc, iv)
	perm := YMM()
	VMOVDQU(packPerm(), perm)
	for k := 0; k < 8; k++ {
		q := make([]VecVirtual, 4)
		for j := range q {
			q[j] = YMM()
			VMULPS(Mem{Base: x, Disp: 128*k + 32*j}, iv, q[j])
			VADDPS(f32Const("fmagic", 12582912), q[j], q[j])
			VPAND(u32Const("mant", 0x007fffff), q[j], q[j])
			VPSUBD(u32Const("half22", 0x00400000), q[j], q[j])
			VPMINSD(u32Const("i127", 127), q[j], q[j])
		}
		pack32trunc(q, perm, Mem{Base: y, Disp: 4 + 32*k})
	}
	// bsums: sums of each 16 quants
	ones := YMM()
	VMOVDQU(ones8(), ones)
	for half := 0; half < 2; half++ {
		s := make([]VecVirtual, 4)
		for j := range s {
			s[j] = YMM()
			VPMADDUBSW(Mem{Base: y, Disp: 4 + 128*half + 32*j}, ones, s[j])
			VPMADDWD(ones16(), s[j], s[j])
		}
		VPHADDD(s[1], s[0], s[0])
		VPHADDD(s[3], s[2], s[2])
		VPHADDD(s[2], s[0], s[0])
		VPERMD(s[0], perm, s[0])
		hi := XMM()
		VEXTRACTI128(U8(1), s[0], hi)
		VPACKSSDW(hi, s[0].AsX(), hi)
		VMOVDQU(hi, Mem{Base: y, Disp: 260 + 16*half})
	}
	// d = 1/iscale
	one := XMM()
	VMOVSS(f32Const("f1", 1), one)
	VDIVSS(isc, one, one)
	VMOVSS(one, Mem{Base: y})
	Label("q8_K_next")
	ADDQ(U32(1024), x)
	ADDQ(U32(292), y)
	DECQ(nb)
	JNZ(LabelRef("q8_K_loop"))
	VZEROUPPER()
	RET()
}

// quantizeQ8KMax reduces the magnitudes of the 256 values at x to their maximum, in lane 0 of
// an X register; mx holds |x| of the first four vectors.
func quantizeQ8KMax(x Register, absMask VecVirtual, mx []VecVirtual) VecVirtual {
	for k := 4; k < 32; k++ {
		t := YMM()
		VANDPS(Mem{Base: x, Disp: 32 * k}, absMask, t)
		VMAXPS(t, mx[k%4], mx[k%4])
	}
	VMAXPS(mx[1], mx[0], mx[0])
	VMAXPS(mx[3], mx[2], mx[2])
	VMAXPS(mx[2], mx[0], mx[0])
	m4, t := XMM(), XMM()
	VEXTRACTF128(U8(1), mx[0], m4)
	VMAXPS(mx[0].AsX(), m4, m4)
	VMOVHLPS(m4, m4, t)
	VMAXPS(t, m4, m4)
	VMOVSHDUP(m4, t)
	VMAXSS(t, m4, m4)
	return m4
}

func genQuantBF16() {
	TEXT("quantizeBF16AVX2", NOSPLIT, "func(n8 int, x *float32, y *byte)")
	Pragma("noescape")
	Doc("quantizeBF16AVX2 converts n8 groups of 8 float32 to bfloat16 as GGML_FP32_TO_BF16 does: round",
		"to nearest even, NaN to a quiet NaN.")
	n := Load(Param("n8"), GP64())
	x := Load(Param("x"), GP64())
	y := Load(Param("y"), GP64())
	Label("bf16_loop")
	u := YMM()
	VMOVDQU(Mem{Base: x}, u)
	// rounded = (u + 0x7fff + ((u >> 16) & 1)) >> 16
	r, t := YMM(), YMM()
	VPSRLD(U8(16), u, t)
	VPAND(u32Const("one32", 1), t, t)
	VPADDD(u32Const("bf16Round", 0x7fff), u, r)
	VPADDD(t, r, r)
	VPSRLD(U8(16), r, r)
	// NaN: (u >> 16) | 64 where (u & 0x7fffffff) > 0x7f800000
	nan, q := YMM(), YMM()
	VPAND(u32Const("absMask", 0x7fffffff), u, nan)
	VPCMPGTD(u32Const("inf32", 0x7f800000), nan, nan)
	VPSRLD(U8(16), u, q)
	VPOR(u32Const("quiet64", 64), q, q)
	VPBLENDVB(nan, q, r, r)
	h := XMM()
	VEXTRACTI128(U8(1), r, h)
	VPACKUSDW(h, r.AsX(), h)
	VMOVDQU(h, Mem{Base: y})
	ADDQ(U32(32), x)
	ADDQ(U32(16), y)
	DECQ(n)
	JNZ(LabelRef("bf16_loop"))
	VZEROUPPER()
	RET()
}

func genQuantF16() {
	TEXT("quantizeF16AVX2", NOSPLIT, "func(n8 int, x *float32, y *byte)")
	Pragma("noescape")
	Doc("quantizeF16AVX2 converts n8 groups of 8 float32 to fp16 with VCVTPS2PH (round to nearest even).")
	n := Load(Param("n8"), GP64())
	x := Load(Param("x"), GP64())
	y := Load(Param("y"), GP64())
	Label("f16_loop")
	v := YMM()
	VMOVUPS(Mem{Base: x}, v)
	h := XMM()
	VCVTPS2PH(U8(0), v, h)
	VMOVDQU(h, Mem{Base: y})
	ADDQ(U32(32), x)
	ADDQ(U32(16), y)
	DECQ(n)
	JNZ(LabelRef("f16_loop"))
	VZEROUPPER()
	RET()
}
