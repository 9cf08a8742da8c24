package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// Kernels of the lattice i-quants (IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M)
// against q8_K, after ggml's AVX2 ggml_vec_dot_iq*_q8_K (ggml-cpu/arch/x86/quants.c, MIT).
// Each 32-value sub-block is decoded once into grid bytes (unsigned, or signed for IQ1), ±1
// sign bytes and int16 scales, then met by every column with sign, maddubs, madd. The integer
// lanes are ggml's (lane k sums bytes 4k..4k+3 of every sub-block), so after the same float
// steps the results are ggml's bits.

// tableReg returns a register holding the address of a read-only table.
func tableReg(name string, b []byte) Register {
	r := GP64()
	LEAQ(bytesConst(name, b), r)
	return r
}

func u64Table(v []uint64) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		for j := 0; j < 8; j++ {
			b[8*i+j] = byte(x >> (8 * j))
		}
	}
	return b
}

func u32Table(v []uint32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		for j := 0; j < 4; j++ {
			b[4*i+j] = byte(x >> (8 * j))
		}
	}
	return b
}

// signBytes returns the 8-byte ±1 patterns of the given sign masks (bit j set: byte j is -1):
// with the even-parity ksigns_iq2xs this is ggml's keven_signs_q2xs.
func signBytes(masks []byte) []byte {
	b := make([]byte, 8*len(masks))
	for i, m := range masks {
		for j := 0; j < 8; j++ {
			if m>>j&1 != 0 {
				b[8*i+j] = 0xff
			} else {
				b[8*i+j] = 1
			}
		}
	}
	return b
}

func evenSigns() Register { return tableReg("evenSigns", signBytes(ksignsIQ2XS[:])) }

func allSigns() Register {
	m := make([]byte, 256)
	for i := range m {
		m[i] = byte(i)
	}
	return tableReg("allSigns", signBytes(m))
}

// gather64 builds a YMM register from the four qwords at tab + 8*idx(i); each index is computed
// just before its load, so few general registers are live.
func gather64(tab Register, idx func(i int) GPVirtual) VecVirtual {
	lo, hi := XMM(), XMM()
	VMOVQ(Mem{Base: tab, Index: idx(0), Scale: 8}, lo)
	VPINSRQ(U8(1), Mem{Base: tab, Index: idx(1), Scale: 8}, lo, lo)
	VMOVQ(Mem{Base: tab, Index: idx(2), Scale: 8}, hi)
	VPINSRQ(U8(1), Mem{Base: tab, Index: idx(3), Scale: 8}, hi, hi)
	y := YMM()
	VINSERTI128(U8(1), hi, lo.AsY(), y)
	return y
}

// gather32 builds a YMM register from the eight dwords at tab + 4*idx(i).
func gather32(tab Register, idx func(i int) GPVirtual) VecVirtual {
	lo, hi := XMM(), XMM()
	VMOVD(Mem{Base: tab, Index: idx(0), Scale: 4}, lo)
	for i := 1; i < 4; i++ {
		VPINSRD(U8(i), Mem{Base: tab, Index: idx(i), Scale: 4}, lo, lo)
	}
	VMOVD(Mem{Base: tab, Index: idx(4), Scale: 4}, hi)
	for i := 1; i < 4; i++ {
		VPINSRD(U8(i), Mem{Base: tab, Index: idx(4 + i), Scale: 4}, hi, hi)
	}
	y := YMM()
	VINSERTI128(U8(1), hi, lo.AsY(), y)
	return y
}

// byteIdx loads the byte at m, zero-extended, into a new 64-bit register.
func byteIdx(m Mem) GPVirtual {
	r := GP64()
	MOVBQZX(m, r)
	return r
}

// fieldIdx returns (v >> shift) & mask in a new 64-bit register.
func fieldIdx(v GPVirtual, shift int, mask uint32) GPVirtual {
	r := GP64()
	MOVL(v.As32(), r.As32())
	if shift > 0 {
		SHRL(U8(shift), r.As32())
	}
	ANDL(U32(mask), r.As32())
	return r
}

// scales16 returns int16 lanes 0..7 = lo, 8..15 = hi (the two 16-value halves of a sub-block).
func scales16(lo, hi GPVirtual) VecVirtual {
	a, b := XMM(), XMM()
	VMOVD(lo.As32(), a)
	VPBROADCASTW(a, a)
	VMOVD(hi.As32(), b)
	VPBROADCASTW(b, b)
	y := YMM()
	VINSERTI128(U8(1), b, a.AsY(), y)
	return y
}

// scale16 returns all 16 int16 lanes = v.
func scale16(v GPVirtual) VecVirtual {
	a := XMM()
	VMOVD(v.As32(), a)
	y := YMM()
	VPBROADCASTW(a, y)
	return y
}

// oddScale returns 2*((v >> shift) & mask) + 1 in a new register.
func oddScale(v GPVirtual, shift int, mask uint32) GPVirtual {
	r := fieldIdx(v, shift, mask)
	LEAL(Mem{Base: r, Index: r, Scale: 1, Disp: 1}, r.As32())
	return r
}

// latticeSub is one decoded 32-value sub-block: grid bytes G (unsigned), sign bytes S (±1) and
// int16 scales L.
type latticeSub struct{ G, S, L VecVirtual }

// latticeKernel emits an i-quant kernel: decode(k, sb) decodes sub-block sb of the current
// block; the result is mul * hsum(acc) with acc += d*float(sumi) per super-block.
func latticeKernel(name string, wsize int, mul float32, setup func(k *kern), decode func(k *kern, sb int) latticeSub, doc string) {
	eachCols(func(cols int) {
		k := newSuper(name, cols, doc)
		setup(k.kern)
		k.loop(wsize, q8kSize, func() {
			k.zeroSumi()
			for sb := 0; sb < 8; sb++ {
				s := decode(k.kern, sb)
				for c := 0; c < cols; c++ {
					q := YMM()
					VMOVDQU(k.act(c, q8kQs+32*sb), q)
					VPSIGNB(s.S, q, q)
					VPMADDUBSW(q, s.G, q)
					VPMADDWD(s.L, q, q)
					VPADDD(q, k.sumi[c], k.sumi[c])
				}
			}
			k.finish(0)
		})
		res := make([]VecVirtual, cols)
		for c := range res {
			res[c] = hsum8(k.acc[c])
			if mul != 1 {
				VMULSS(f32Const(fmtName("f", mul), mul), res[c], res[c])
			}
		}
		k.end(res)
	})
}

func fmtName(p string, v float32) string {
	switch v {
	case 0.125:
		return p + "eighth"
	case 0.25:
		return p + "quarter"
	}
	panic("constant")
}

// tables of the current kernel (set up once per kernel, before the loop)
var gridTab, signTab Register

func genIQ2XXS() {
	latticeKernel("IQ2XXS", 66, 0.125, func(k *kern) {
		gridTab = tableReg("iq2xxsGrid", u64Table(iq2xxsGrid[:]))
		signTab = evenSigns()
	}, func(k *kern, sb int) latticeSub {
		g := gather64(gridTab, func(l int) GPVirtual { return byteIdx(k.wt(2 + 8*sb + l)) })
		aux := GP64()
		MOVL(k.wt(2+8*sb+4), aux.As32())
		s := gather64(signTab, func(l int) GPVirtual { return fieldIdx(aux, 7*l, 127) })
		return latticeSub{G: g, S: s, L: scale16(oddScale(aux, 28, 15))}
	}, "iq2_xxs x q8_K (ggml_vec_dot_iq2_xxs_q8_K)")
}

func genIQ2XS() {
	latticeKernel("IQ2XS", 74, 0.125, func(k *kern) {
		gridTab = tableReg("iq2xsGrid", u64Table(iq2xsGrid[:]))
		signTab = evenSigns()
	}, func(k *kern, sb int) latticeSub {
		q := func(l int) GPVirtual {
			r := GP64()
			MOVWLZX(k.wt(2+8*sb+2*l), r.As32())
			return r
		}
		g := gather64(gridTab, func(l int) GPVirtual { return fieldIdx(q(l), 0, 511) })
		s := gather64(signTab, func(l int) GPVirtual { return fieldIdx(q(l), 9, 127) })
		sc := byteIdx(k.wt(66 + sb))
		return latticeSub{G: g, S: s, L: scales16(oddScale(sc, 0, 15), oddScale(sc, 4, 15))}
	}, "iq2_xs x q8_K (ggml_vec_dot_iq2_xs_q8_K)")
}

func genIQ2S() {
	latticeKernel("IQ2S", 82, 0.125, func(k *kern) {
		gridTab = tableReg("iq2sGrid", u64Table(iq2sGrid[:]))
		signTab = allSigns()
	}, func(k *kern, sb int) latticeSub {
		qh := byteIdx(k.wt(66 + sb))
		g := gather64(gridTab, func(l int) GPVirtual {
			// qs[l] | (qh << (8-2l)) & 0x300
			r := byteIdx(k.wt(2 + 4*sb + l))
			h := GP64()
			MOVL(qh.As32(), h.As32())
			SHLL(U8(8-2*l), h.As32())
			ANDL(U32(0x300), h.As32())
			ORL(h.As32(), r.As32())
			return r
		})
		s := gather64(signTab, func(l int) GPVirtual { return byteIdx(k.wt(34 + 4*sb + l)) })
		sc := byteIdx(k.wt(74 + sb))
		return latticeSub{G: g, S: s, L: scales16(oddScale(sc, 0, 15), oddScale(sc, 4, 15))}
	}, "iq2_s x q8_K (ggml_vec_dot_iq2_s_q8_K)")
}

func genIQ3XXS() {
	latticeKernel("IQ3XXS", 98, 0.25, func(k *kern) {
		gridTab = tableReg("iq3xxsGrid", u32Table(iq3xxsGrid[:]))
		signTab = evenSigns()
	}, func(k *kern, sb int) latticeSub {
		g := gather32(gridTab, func(j int) GPVirtual { return byteIdx(k.wt(2 + 8*sb + j)) })
		aux := GP64()
		MOVL(k.wt(66+4*sb), aux.As32())
		s := gather64(signTab, func(l int) GPVirtual { return fieldIdx(aux, 7*l, 127) })
		return latticeSub{G: g, S: s, L: scale16(oddScale(aux, 28, 15))}
	}, "iq3_xxs x q8_K (ggml_vec_dot_iq3_xxs_q8_K)")
}

func genIQ3S() {
	latticeKernel("IQ3S", 110, 1, func(k *kern) {
		gridTab = tableReg("iq3sGrid", u32Table(iq3sGrid[:]))
		signTab = allSigns()
	}, func(k *kern, sb int) latticeSub {
		qh := byteIdx(k.wt(66 + sb))
		g := gather32(gridTab, func(j int) GPVirtual {
			// qs[j] | ((qh >> j) & 1) << 8
			r := byteIdx(k.wt(2 + 8*sb + j))
			h := GP64()
			MOVL(qh.As32(), h.As32())
			SHLL(U8(8), h.As32())
			if j > 0 {
				SHRL(U8(j), h.As32())
			}
			ANDL(U32(0x100), h.As32())
			ORL(h.As32(), r.As32())
			return r
		})
		s := gather64(signTab, func(l int) GPVirtual { return byteIdx(k.wt(74 + 4*sb + l)) })
		sc := byteIdx(k.wt(106 + sb/2))
		return latticeSub{G: g, S: s, L: scale16(oddScale(sc, 4*(sb%2), 15))}
	}, "iq3_s x q8_K (ggml_vec_dot_iq3_s_q8_K)")
}
