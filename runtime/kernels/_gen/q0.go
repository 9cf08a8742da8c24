package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// Kernels of the 32-value block types against q8_0/q8_1 activations, after ggml's AVX2
// ggml_vec_dot_{q8_0,q4_0,q5_0}_q8_0, ggml_vec_dot_{q4_1,q5_1}_q8_1 and ggml_vec_dot_iq4_nl_q8_0
// (ggml-cpu/arch/x86/quants.c, MIT).

// eachCols emits gen for one and for four columns.
func eachCols(gen func(cols int)) {
	gen(1)
	gen(4)
}

func kname(base string, cols int) string {
	if cols == 1 {
		return "dot" + base + "AVX2"
	}
	return "dot4" + base + "AVX2"
}

// signedDot is ggml's mul_sum_i8_pairs_float for one column: y = float(madd(1, maddubs(|x|,
// sign(y, x)))). ax = |x| is precomputed; y is loaded from m and returned.
func signedDot(x, ax VecVirtual, m Mem) VecVirtual {
	y := YMM()
	VMOVDQU(m, y)
	VPSIGNB(x, y, y)
	VPMADDUBSW(y, ax, y)
	VPMADDWD(ones16(), y, y)
	VCVTDQ2PS(y, y)
	return y
}

// unsignedDot is ggml's mul_sum_us8_pairs_float: float(madd(1, maddubs(x, y))), x unsigned.
func unsignedDot(x VecVirtual, m Mem) VecVirtual {
	y := YMM()
	VPMADDUBSW(m, x, y)
	VPMADDWD(ones16(), y, y)
	VCVTDQ2PS(y, y)
	return y
}

// nibbles is ggml's bytes_from_nibbles_32: the 16 bytes at m as 32 nibbles (low ones first).
func nibbles(m Mem) VecVirtual {
	t, h := XMM(), XMM()
	VMOVDQU(m, t)
	VPSRLW(U8(4), t, h)
	q := YMM()
	VINSERTI128(U8(1), h, t.AsY(), q)
	VPAND(mask4(), q, q)
	return q
}

// bitsToBytes is ggml's bytes_from_bits_32: the 32 bits at m as 32 bytes of 0x00 or 0xff.
func bitsToBytes(m Mem) VecVirtual {
	b := YMM()
	VPBROADCASTD(m, b)
	VPSHUFB(bytesConst("bitsShuf", []byte{
		0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
		2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3}), b, b)
	VPOR(bytesConst("bitsMask", []byte{
		0xfe, 0xfd, 0xfb, 0xf7, 0xef, 0xdf, 0xbf, 0x7f, 0xfe, 0xfd, 0xfb, 0xf7, 0xef, 0xdf, 0xbf, 0x7f,
		0xfe, 0xfd, 0xfb, 0xf7, 0xef, 0xdf, 0xbf, 0x7f, 0xfe, 0xfd, 0xfb, 0xf7, 0xef, 0xdf, 0xbf, 0x7f}), b, b)
	VPCMPEQB(allOnes(), b, b)
	return b
}

// q8x0Kernel emits a kernel over 32-value weight blocks of wsize bytes against q8_0 blocks:
// decode returns the 32 signed weight bytes of the current block; the scale is the fp16 at 0.
func q8x0Kernel(name string, cols, wsize int, decode func(k *kern) VecVirtual, doc string) {
	k := begin(kname(name, cols), cols, doc)
	acc := zeros(cols)
	k.loop(wsize, 34, func() {
		x := decode(k)
		ax := YMM()
		VPSIGNB(x, x, ax)
		dx := f16x8(k.wt(0))
		for c := 0; c < cols; c++ {
			q := signedDot(x, ax, k.act(c, 2))
			d := f16x8(k.act(c, 0))
			VMULPS(d, dx, d)
			VFMADD231PS(q, d, acc[c])
		}
	})
	res := make([]VecVirtual, cols)
	for c := range res {
		res[c] = hsum8(acc[c])
	}
	k.end(res)
}

func genQ8_0() {
	eachCols(func(cols int) {
		q8x0Kernel("Q8_0", cols, 34, func(k *kern) VecVirtual {
			x := YMM()
			VMOVDQU(k.wt(2), x)
			return x
		}, "q8_0 x q8_0 (ggml_vec_dot_q8_0_q8_0)")
	})
}

func genQ4_0() {
	eachCols(func(cols int) {
		q8x0Kernel("Q4_0", cols, 18, func(k *kern) VecVirtual {
			x := nibbles(k.wt(2))
			VPSUBB(eight8(), x, x)
			return x
		}, "q4_0 x q8_0 (ggml_vec_dot_q4_0_q8_0)")
	})
}

func genQ5_0() {
	eachCols(func(cols int) {
		q8x0Kernel("Q5_0", cols, 22, func(k *kern) VecVirtual {
			x := nibbles(k.wt(6))
			h := bitsToBytes(k.wt(2))
			VPANDN(splat8("maskf0", 0xf0), h, h)
			VPOR(h, x, x)
			return x
		}, "q5_0 x q8_0 (ggml_vec_dot_q5_0_q8_0)")
	})
}

// q8x1Kernel emits a kernel over weights with a scale d and a min m (fp16 at 0 and 2) against
// q8_1 blocks (d, s, 32 quants): sum d_x*d_y*dot + sum m_x*s_y, the second in scalar FMAs.
// decode returns the 32 unsigned weight bytes. (q4_1's fmadd(dx*dy, q, acc) and q5_1's
// fmadd(q, dx*dy, acc) are the same operation.)
func q8x1Kernel(name string, cols, wsize int, decode func(k *kern) VecVirtual, doc string) {
	k := begin(kname(name, cols), cols, doc)
	acc := zeros(cols)
	summs := make([]VecVirtual, cols)
	for c := range summs {
		summs[c] = XMM()
		VXORPS(summs[c], summs[c], summs[c])
	}
	k.loop(wsize, 36, func() {
		m := f16x8(k.wt(2))
		for c := 0; c < cols; c++ {
			s := f16x8(k.act(c, 2))
			VFMADD231SS(s.AsX(), m.AsX(), summs[c])
		}
		x := decode(k)
		dx := f16x8(k.wt(0))
		for c := 0; c < cols; c++ {
			q := unsignedDot(x, k.act(c, 4))
			d := f16x8(k.act(c, 0))
			VMULPS(d, dx, d)
			VFMADD231PS(q, d, acc[c])
		}
	})
	res := make([]VecVirtual, cols)
	for c := range res {
		res[c] = hsum8(acc[c])
		VADDSS(summs[c], res[c], res[c])
	}
	k.end(res)
}

func genQ4_1() {
	eachCols(func(cols int) {
		q8x1Kernel("Q4_1", cols, 20, func(k *kern) VecVirtual {
			return nibbles(k.wt(4))
		}, "q4_1 x q8_1 (ggml_vec_dot_q4_1_q8_1)")
	})
}

func genQ5_1() {
	eachCols(func(cols int) {
		q8x1Kernel("Q5_1", cols, 24, func(k *kern) VecVirtual {
			x := nibbles(k.wt(8))
			h := bitsToBytes(k.wt(4))
			VPAND(splat8("mask10", 0x10), h, h)
			VPOR(h, x, x)
			return x
		}, "q5_1 x q8_1 (ggml_vec_dot_q5_1_q8_1)")
	})
}

// nlType describes a 4-bit non-linear type: weight blocks of wsize bytes with 16 index bytes
// at qs, a 16-entry value table, and a scale decoded by scale (broadcast float).
type nlType struct {
	name   string
	wsize  int
	qs     int
	values []byte
	scale  func(k *kern, off int) VecVirtual
	doc    string
}

var iq4nl = nlType{
	name: "IQ4NL", wsize: 18, qs: 2,
	values: []byte{0x81, 0x98, 0xad, 0xbf, 0xcf, 0xdd, 0xea, 0xf6, 0x01, 0x0d, 0x19, 0x26, 0x35, 0x45, 0x59, 0x71},
	scale:  func(k *kern, off int) VecVirtual { return f16x8(k.wt(off)) },
	doc:    "iq4_nl x q8_0 (ggml_vec_dot_iq4_nl_q8_0)",
}

var mxfp4 = nlType{
	name: "MXFP4", wsize: 17, qs: 1,
	values: []byte{0, 1, 2, 3, 4, 6, 8, 12, 0, 0xff, 0xfe, 0xfd, 0xfc, 0xfa, 0xf8, 0xf4},
	scale: func(k *kern, off int) VecVirtual {
		// GGML_CPU_E8M0_TO_FP32_HALF through a 256-entry table of float32
		e := GP64()
		MOVBQZX(k.wt(off), e)
		d := YMM()
		VBROADCASTSS(Mem{Base: e8m0Table(), Index: e, Scale: 4}.Offset(0), d)
		return d
	},
	doc: "mxfp4 x q8_0 (ggml_vec_dot_mxfp4_q8_0)",
}

// e8m0Table returns the address register of ggml_table_f32_e8m0_half: 2^(e-128), with the two
// subnormal entries for e < 2.
func e8m0Table() Register {
	b := make([]byte, 1024)
	for e := 0; e < 256; e++ {
		var bits uint32
		if e < 2 {
			bits = 0x00200000 << e
		} else {
			bits = uint32(e-1) << 23
		}
		b[4*e], b[4*e+1], b[4*e+2], b[4*e+3] = byte(bits), byte(bits>>8), byte(bits>>16), byte(bits>>24)
	}
	r := GP64()
	LEAQ(bytesConst("e8m0Half", b), r)
	return r
}

// nlValues loads a 16-entry value table into an X register.
func nlValues(t nlType) VecVirtual {
	v := XMM()
	b := append(append([]byte{}, t.values...), t.values...)
	VMOVDQU(bytesConst(lower(t.name)+"Values", b), v)
	return v
}

// iq4Lookup maps the 16 bytes of nibbles at m through the non-linear table: low nibbles to
// bytes 0..15, high nibbles to bytes 16..31.
func iq4Lookup(values VecVirtual, m Mem) VecVirtual {
	t, h := XMM(), XMM()
	VMOVDQU(m, t)
	VPSRLW(U8(4), t, h)
	VPAND(mask4(), h, h)
	VPAND(mask4(), t, t)
	VPSHUFB(t, values, t)
	VPSHUFB(h, values, h)
	q := YMM()
	VINSERTI128(U8(1), h, t.AsY(), q)
	return q
}

// genNL: ggml processes blocks in pairs with two accumulators, then a scalar tail block.
func genNL(t nlType) {
	eachCols(func(cols int) {
		k := begin(kname(t.name, cols), cols, t.doc)
		values := nlValues(t)
		acc1, acc2 := zeros(cols), zeros(cols)
		pairs := GP64()
		MOVQ(k.nb, pairs)
		SHRQ(U8(1), pairs)
		JZ(LabelRef(k.name + "_tail"))
		Label(k.name + "_loop")
		for half, acc := range [][]VecVirtual{acc1, acc2} {
			wo, ao := t.wsize*half, 34*half
			x := iq4Lookup(values, k.wt(wo+t.qs))
			ax := YMM()
			VPSIGNB(x, x, ax)
			dx := t.scale(k, wo)
			for c := 0; c < cols; c++ {
				q := signedDot(x, ax, k.act(c, ao+2))
				d := f16x8(k.act(c, ao))
				VMULPS(dx, d, d)
				VFMADD231PS(q, d, acc[c])
			}
		}
		ADDQ(U32(2*t.wsize), k.w)
		ADDQ(U32(68), k.a)
		DECQ(pairs)
		JNZ(LabelRef(k.name + "_loop"))
		Label(k.name + "_tail")
		res := make([]VecVirtual, cols)
		for c := range res {
			VADDPS(acc2[c], acc1[c], acc1[c])
			res[c] = hsum8(acc1[c])
		}
		TESTQ(U32(1), k.nb)
		JZ(LabelRef(k.name + "_done"))
		// sumf += d * (sumi1 + sumi2) for the odd last block
		x := iq4Lookup(values, k.wt(t.qs))
		ax := YMM()
		VPSIGNB(x, x, ax)
		dx := t.scale(k, 0)
		for c := 0; c < cols; c++ {
			y := YMM()
			VMOVDQU(k.act(c, 2), y)
			VPSIGNB(x, y, y)
			VPMADDUBSW(y, ax, y)
			VPMADDWD(ones16(), y, y)
			s := hsumI32(y)
			VCVTDQ2PS(s, s)
			d := f16x8(k.act(c, 0))
			VMULPS(dx, d, d)
			VFMADD231SS(s, d.AsX(), res[c])
		}
		Label(k.name + "_done")
		k.end(res)
	})
}

func genIQ4NL() { genNL(iq4nl) }
func genMXFP4() { genNL(mxfp4) }

// hsumI32 returns the sum of the eight int32 lanes of y in lane 0 of an X register.
func hsumI32(y VecVirtual) VecVirtual {
	t := XMM()
	VEXTRACTI128(U8(1), y, t)
	VPADDD(y.AsX(), t, t)
	u := XMM()
	VPSHUFD(U8(0x4e), t, u)
	VPADDD(u, t, t)
	VPSHUFD(U8(0xb1), t, u)
	VPADDD(u, t, t)
	return t
}
