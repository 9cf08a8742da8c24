package main

import (
	"github.com/ggufy/ggufy/internal/iqgrid"

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

func evenSigns() Register { return tableReg("evenSigns", signBytes(iqgrid.KSigns[:])) }

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
	// the row decoder and the kernel over decoded rows (see decodedLayout)
	{
		k := beginDecode(name, wsize, dqBase)
		setup(k)
		k.loop(wsize, dqBase, func() {
			d := f16x8(k.wt(0))
			VMOVSS(d.AsX(), Mem{Base: k.a})
			for sb := 0; sb < 8; sb++ {
				s := decode(k, sb)
				VMOVDQU(s.G, Mem{Base: k.a, Disp: dqSub(sb) + dqAW})
				VPSIGNB(s.S, s.G, s.G)
				VMOVDQU(s.G, Mem{Base: k.a, Disp: dqSub(sb) + dqW})
				VMOVDQU(s.L, Mem{Base: k.a, Disp: dqSub(sb) + dqL})
			}
		})
		VZEROUPPER()
		RET()
		decodedKernel(name, dqBase, mul, nil)
	}
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

// decodedLayout: MatMul decodes a row of a lattice type once into this form, then meets every
// group of four columns with it, so the table gathers are not repeated per column group:
//
//	per super-block: d float32 (the fp16 scale, or IQ1_M's assembled one), 28 bytes of padding,
//	then per 32-value sub-block: W (32 signed weight bytes), AW (|W|), L (16 int16 scales);
//	IQ1_S appends the 16 int16 delta*scale factors of the bsums, IQ1_M the ±1 delta bytes of
//	each sub-block.
//
// The products are those of the direct kernels (sign(q8, W)·|W| = sign(q8, S)·G), so results
// are bit-identical.
const (
	dqHeader = 32
	dqW      = 0
	dqAW     = 32
	dqL      = 64
	dqSubLen = 96
	dqBase   = dqHeader + 8*dqSubLen // 800
	dqIQ1S   = dqBase + 32           // + bsum factors
	dqIQ1M   = dqBase + 8*32         // + delta bytes per sub-block
)

func dqSub(sb int) int { return dqHeader + dqSubLen*sb }

// beginDecode opens func(nb int, w, a *byte): decode nb weight blocks at w into a.
func beginDecode(name string, wsize, dsize int) *kern {
	k := &kern{cols: 1, name: "decode" + name + "AVX2"}
	TEXT(k.name, NOSPLIT, "func(nb int, w, a *byte)")
	Pragma("noescape")
	Doc(k.name + " decodes nb blocks of " + name + " weights for the four-column kernel over decoded rows.")
	k.nb = Load(Param("nb"), GP64())
	k.w = Load(Param("w"), GP64())
	k.a = Load(Param("a"), GP64())
	return k
}

// dqExtra adds the IQ1 delta terms to the kernel over decoded rows.
type dqExtra struct {
	setup func(k *superKernel)                          // before the loop
	sub   func(k *superKernel, sb, c int, q VecVirtual) // q8 of column c, sub-block sb (read only)
	super func(k *superKernel, c int, d VecVirtual)     // end of a super-block; d = y.d*dx
	fin   func(k *superKernel, c int, res VecVirtual)   // add to column c's result
}

// decodedKernel emits dot4d<name>AVX2: four q8_K columns against a decoded row (decodedLayout).
func decodedKernel(name string, dsize int, mul float32, x *dqExtra) {
	k := &superKernel{kern: begin("dot4d"+name+"AVX2", 4, name+" x four q8_K columns over a decoded row")}
	k.acc = zeros(4)
	k.sumi = make([]VecVirtual, 4)
	for c := range k.sumi {
		k.sumi[c] = YMM()
	}
	if x != nil {
		x.setup(k)
	}
	k.loop(dsize, q8kSize, func() {
		k.zeroSumi()
		for sb := 0; sb < 8; sb++ {
			aw := YMM()
			VMOVDQU(k.wt(dqSub(sb)+dqAW), aw)
			for c := 0; c < 4; c++ {
				q := YMM()
				VMOVDQU(k.act(c, q8kQs+32*sb), q)
				if x != nil {
					x.sub(k, sb, c, q)
				}
				VPSIGNB(k.wt(dqSub(sb)+dqW), q, q)
				VPMADDUBSW(q, aw, q)
				VPMADDWD(k.wt(dqSub(sb)+dqL), q, q)
				VPADDD(q, k.sumi[c], k.sumi[c])
			}
		}
		dx := YMM()
		VBROADCASTSS(k.wt(0), dx)
		for c := 0; c < 4; c++ {
			d := k.yd(c, dx)
			VCVTDQ2PS(k.sumi[c], k.sumi[c])
			VFMADD231PS(k.sumi[c], d, k.acc[c])
			if x != nil {
				x.super(k, c, d)
			}
		}
	})
	res := make([]VecVirtual, 4)
	for c := range res {
		res[c] = hsum8(k.acc[c])
		if mul != 1 {
			VMULSS(f32Const(fmtName("f", mul), mul), res[c], res[c])
		}
		if x != nil {
			x.fin(k, c, res[c])
		}
	}
	k.end(res)
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
		gridTab = tableReg("iq2xxsGrid", u64Table(iqgrid.IQ2XXS[:]))
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
		gridTab = tableReg("iq2xsGrid", u64Table(iqgrid.IQ2XS[:]))
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
		gridTab = tableReg("iq2sGrid", u64Table(iqgrid.IQ2S[:]))
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
		gridTab = tableReg("iq3xxsGrid", u32Table(iqgrid.IQ3XXS[:]))
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
		gridTab = tableReg("iq3sGrid", u32Table(iqgrid.IQ3S[:]))
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

// iq1sCoef returns the 16 int16 factors of the bsums in IQ1_S's delta term: delta*ls of each
// sub-block, once per 16-value bsum.
func iq1sCoef(k *kern) VecVirtual {
	coef := [2]VecVirtual{XMM(), XMM()}
	for sb := 0; sb < 8; sb++ {
		qh := GP64()
		MOVWLZX(k.wt(34+2*sb), qh.As32())
		ls := oddScale(qh, 12, 7)
		neg := fieldIdx(qh, 15, 1)
		NEGL(neg.As32())
		XORL(neg.As32(), ls.As32())
		SUBL(neg.As32(), ls.As32()) // ls, negated when the delta bit is set
		ANDL(U32(0xffff), ls.As32())
		IMUL3L(U32(0x10001), ls.As32(), ls.As32())
		if sb%4 == 0 {
			VMOVD(ls.As32(), coef[sb/4])
		} else {
			VPINSRD(U8(sb%4), ls.As32(), coef[sb/4], coef[sb/4])
		}
	}
	cy := YMM()
	VINSERTI128(U8(1), coef[1], coef[0].AsY(), cy)
	return cy
}

// iq1sSub decodes IQ1_S sub-block sb: signed grid bytes and the scale.
func iq1sSub(k *kern, grid Register, sb int) (g, l VecVirtual) {
	qh := GP64()
	MOVWLZX(k.wt(34+2*sb), qh.As32())
	g = gather64(grid, func(l int) GPVirtual {
		// qs[l] | ((qh >> 3l) & 7) << 8
		r := byteIdx(k.wt(2 + 4*sb + l))
		h := fieldIdx(qh, 3*l, 7)
		SHLL(U8(8), h.As32())
		ORL(h.As32(), r.As32())
		return r
	})
	return g, scale16(oddScale(qh, 12, 7))
}

// iq1mSub decodes IQ1_M sub-block sb: signed grid bytes, ±1 delta bytes and the two scales.
func iq1mSub(k *kern, grid, deltas Register, sb int) (g, dl, l VecVirtual) {
	g = gather64(grid, func(l int) GPVirtual {
		// qs[l] | (qh[l/2] << (8 - 4(l%2))) & 0x700
		r := byteIdx(k.wt(4*sb + l))
		h := byteIdx(k.wt(32 + 2*sb + l/2))
		SHLL(U8(8-4*(l%2)), h.As32())
		ANDL(U32(0x700), h.As32())
		ORL(h.As32(), r.As32())
		return r
	})
	dl = gather64(deltas, func(l int) GPVirtual {
		h := byteIdx(k.wt(32 + 2*sb + l/2))
		return fieldIdx(h, 3+4*(l%2), 1)
	})
	sc := GP64()
	MOVWLZX(k.wt(48+2*(sb/2)), sc.As32())
	return g, dl, scales16(oddScale(sc, 6*(sb%2), 7), oddScale(sc, 6*(sb%2)+3, 7))
}

// iq1mScale returns IQ1_M's fp16 scale, assembled from the top nibbles of the four scale
// words, as a float in all lanes.
func iq1mScale(k *kern) VecVirtual {
	u, t := GP32(), GP32()
	MOVWLZX(k.wt(48), u)
	SHRL(U8(12), u)
	MOVWLZX(k.wt(50), t)
	SHRL(U8(8), t)
	ANDL(U32(0xf0), t)
	ORL(t, u)
	MOVWLZX(k.wt(52), t)
	SHRL(U8(4), t)
	ANDL(U32(0xf00), t)
	ORL(t, u)
	MOVWLZX(k.wt(54), t)
	ANDL(U32(0xf000), t)
	ORL(t, u)
	ux := XMM()
	VMOVD(u, ux)
	VPBROADCASTW(ux, ux)
	dx := YMM()
	VCVTPH2PS(ux, dx)
	return dx
}

func iq1Tables() (grid, deltas Register) {
	grid = tableReg("iq1sGrid", u64Table(iqgrid.IQ1S[:]))
	deltas = tableReg("iq1mDelta", u64Table([]uint64{0x0101010101010101, 0xffffffffffffffff}))
	return grid, deltas
}

func genIQ1S() {
	// decoded rows: W = G (signed), the bsum factors after the sub-blocks
	{
		k := beginDecode("IQ1S", 50, dqIQ1S)
		grid, _ := iq1Tables()
		k.loop(50, dqIQ1S, func() {
			d := f16x8(k.wt(0))
			VMOVSS(d.AsX(), Mem{Base: k.a})
			for sb := 0; sb < 8; sb++ {
				g, l := iq1sSub(k, grid, sb)
				VMOVDQU(g, Mem{Base: k.a, Disp: dqSub(sb) + dqW})
				VPABSB(g, g)
				VMOVDQU(g, Mem{Base: k.a, Disp: dqSub(sb) + dqAW})
				VMOVDQU(l, Mem{Base: k.a, Disp: dqSub(sb) + dqL})
			}
			VMOVDQU(iq1sCoef(k), Mem{Base: k.a, Disp: dqBase})
		})
		VZEROUPPER()
		RET()
		var accum1 Mem
		decodedKernel("IQ1S", dqIQ1S, 1, &dqExtra{
			setup: func(k *superKernel) {
				accum1 = AllocLocal(16 * 4)
				z := XMM()
				VXORPS(z, z, z)
				for c := 0; c < 4; c++ {
					VMOVUPS(z, accum1.Offset(16*c))
				}
			},
			sub: func(k *superKernel, sb, c int, q VecVirtual) {},
			super: func(k *superKernel, c int, d VecVirtual) {
				p := YMM()
				VMOVDQU(k.wt(dqBase), p)
				VPMADDWD(k.act(c, q8kBsums), p, p)
				x := hsumI32(p)
				VCVTDQ2PS(x, x)
				a := XMM()
				VMOVSS(accum1.Offset(16*c), a)
				VFMADD231SS(x, d.AsX(), a)
				VMOVSS(a, accum1.Offset(16*c))
			},
			fin: func(k *superKernel, c int, res VecVirtual) {
				a := XMM()
				VMOVSS(accum1.Offset(16*c), a)
				VMULSS(f32Const("feighth", 0.125), a, a)
				VADDSS(a, res, res)
			},
		})
	}
	eachCols(func(cols int) {
		k := newSuper("IQ1S", cols, "iq1_s x q8_K (ggml_vec_dot_iq1_s_q8_K)")
		grid, _ := iq1Tables()
		accum1 := AllocLocal(16 * cols) // ggml's scalar accum1 of each column
		z := XMM()
		VXORPS(z, z, z)
		for c := 0; c < cols; c++ {
			VMOVUPS(z, accum1.Offset(16*c))
		}
		k.loop(50, q8kSize, func() {
			cy := iq1sCoef(k.kern)
			dx := f16x8(k.wt(0))
			for c := 0; c < cols; c++ {
				p := YMM()
				VPMADDWD(k.act(c, q8kBsums), cy, p)
				s := hsumI32(p)
				VCVTDQ2PS(s, s)
				d := k.yd(c, dx)
				a := XMM()
				VMOVSS(accum1.Offset(16*c), a)
				VFMADD231SS(s, d.AsX(), a)
				VMOVSS(a, accum1.Offset(16*c))
			}
			k.zeroSumi()
			for sb := 0; sb < 8; sb++ {
				g, l := iq1sSub(k.kern, grid, sb)
				ax := YMM()
				VPSIGNB(g, g, ax)
				for c := 0; c < cols; c++ {
					q := YMM()
					VMOVDQU(k.act(c, q8kQs+32*sb), q)
					VPSIGNB(g, q, q)
					VPMADDUBSW(q, ax, q)
					VPMADDWD(l, q, q)
					VPADDD(q, k.sumi[c], k.sumi[c])
				}
			}
			k.finish(0)
		})
		res := make([]VecVirtual, cols)
		for c := range res {
			res[c] = hsum8(k.acc[c])
			a := XMM()
			VMOVSS(accum1.Offset(16*c), a)
			VMULSS(f32Const("feighth", 0.125), a, a)
			VADDSS(a, res[c], res[c])
		}
		k.end(res)
	})
}

// dot4dIQ1M is the kernel over decoded IQ1_M rows: two integer sums per column (the grid and
// the deltas) stay in registers, the two float accumulators of each column on the stack.
func dot4dIQ1M() {
	k := &superKernel{kern: begin("dot4dIQ1MAVX2", 4, "IQ1M x four q8_K columns over a decoded row")}
	k.sumi = make([]VecVirtual, 4)
	sumi2 := make([]VecVirtual, 4)
	for c := range k.sumi {
		k.sumi[c], sumi2[c] = YMM(), YMM()
	}
	accs := AllocLocal(64 * 4)
	z := YMM()
	VXORPS(z, z, z)
	for c := 0; c < 8; c++ {
		VMOVUPS(z, accs.Offset(32*c))
	}
	ones := YMM()
	VMOVDQU(ones8(), ones)
	k.loop(dqIQ1M, q8kSize, func() {
		k.zeroSumi()
		for _, s := range sumi2 {
			VPXOR(s, s, s)
		}
		for sb := 0; sb < 8; sb++ {
			aw := YMM()
			VMOVDQU(k.wt(dqSub(sb)+dqAW), aw)
			for c := 0; c < 4; c++ {
				q, t := YMM(), YMM()
				VMOVDQU(k.act(c, q8kQs+32*sb), q)
				VPSIGNB(k.wt(dqBase+32*sb), q, t)
				VPMADDUBSW(t, ones, t)
				VPMADDWD(k.wt(dqSub(sb)+dqL), t, t)
				VPADDD(t, sumi2[c], sumi2[c])
				VPSIGNB(k.wt(dqSub(sb)+dqW), q, q)
				VPMADDUBSW(q, aw, q)
				VPMADDWD(k.wt(dqSub(sb)+dqL), q, q)
				VPADDD(q, k.sumi[c], k.sumi[c])
			}
		}
		dx := YMM()
		VBROADCASTSS(k.wt(0), dx)
		for c := 0; c < 4; c++ {
			d := k.yd(c, dx)
			for i, s := range []VecVirtual{k.sumi[c], sumi2[c]} {
				a := YMM()
				VMOVUPS(accs.Offset(64*c+32*i), a)
				VCVTDQ2PS(s, s)
				VFMADD231PS(s, d, a)
				VMOVUPS(a, accs.Offset(64*c+32*i))
			}
		}
	})
	res := make([]VecVirtual, 4)
	for c := range res {
		a1, a2 := YMM(), YMM()
		VMOVUPS(accs.Offset(64*c), a1)
		VMOVUPS(accs.Offset(64*c+32), a2)
		res[c] = hsum8(a1)
		h2 := hsum8(a2)
		VMULSS(f32Const("feighth", 0.125), h2, h2)
		VADDSS(h2, res[c], res[c])
	}
	k.end(res)
}

func genIQ1M() {
	// decoded rows: W = G (signed), the delta bytes after the sub-blocks
	{
		k := beginDecode("IQ1M", 56, dqIQ1M)
		grid, deltas := iq1Tables()
		k.loop(56, dqIQ1M, func() {
			VMOVSS(iq1mScale(k).AsX(), Mem{Base: k.a})
			for sb := 0; sb < 8; sb++ {
				g, dl, l := iq1mSub(k, grid, deltas, sb)
				VMOVDQU(g, Mem{Base: k.a, Disp: dqSub(sb) + dqW})
				VPABSB(g, g)
				VMOVDQU(g, Mem{Base: k.a, Disp: dqSub(sb) + dqAW})
				VMOVDQU(l, Mem{Base: k.a, Disp: dqSub(sb) + dqL})
				VMOVDQU(dl, Mem{Base: k.a, Disp: dqBase + 32*sb})
			}
		})
		VZEROUPPER()
		RET()
		dot4dIQ1M()
	}
	eachCols(func(cols int) {
		k := newSuper("IQ1M", cols, "iq1_m x q8_K (ggml_vec_dot_iq1_m_q8_K)")
		grid, deltas := iq1Tables()
		// accum1 and accum2 of each column (ggml's two float accumulators)
		accs := AllocLocal(64 * cols)
		z := YMM()
		VXORPS(z, z, z)
		for c := 0; c < 2*cols; c++ {
			VMOVUPS(z, accs.Offset(32*c))
		}
		// ggml's second integer sum (the deltas) of each column, on the stack: registers are short
		sumi2 := AllocLocal(32 * cols)
		ones := YMM()
		VMOVDQU(ones8(), ones)
		k.loop(56, q8kSize, func() {
			for c := 0; c < cols; c++ {
				VMOVDQU(z, sumi2.Offset(32*c))
			}
			k.zeroSumi()
			for sb := 0; sb < 8; sb++ {
				g, dl, l := iq1mSub(k.kern, grid, deltas, sb)
				ax := YMM()
				VPSIGNB(g, g, ax)
				for c := 0; c < cols; c++ {
					q, t := YMM(), YMM()
					VMOVDQU(k.act(c, q8kQs+32*sb), q)
					VPSIGNB(dl, q, t)
					VPMADDUBSW(t, ones, t)
					VPMADDWD(l, t, t)
					VPADDD(sumi2.Offset(32*c), t, t)
					VMOVDQU(t, sumi2.Offset(32*c))
					VPSIGNB(g, q, q)
					VPMADDUBSW(q, ax, q)
					VPMADDWD(l, q, q)
					VPADDD(q, k.sumi[c], k.sumi[c])
				}
			}
			dx := iq1mScale(k.kern)
			for c := 0; c < cols; c++ {
				d := k.yd(c, dx)
				s2 := YMM()
				VMOVDQU(sumi2.Offset(32*c), s2)
				for i, s := range []VecVirtual{k.sumi[c], s2} {
					a := YMM()
					VMOVUPS(accs.Offset(64*c+32*i), a)
					VCVTDQ2PS(s, s)
					VFMADD231PS(s, d, a)
					VMOVUPS(a, accs.Offset(64*c+32*i))
				}
			}
		})
		res := make([]VecVirtual, cols)
		for c := range res {
			a1, a2 := YMM(), YMM()
			VMOVUPS(accs.Offset(64*c), a1)
			VMOVUPS(accs.Offset(64*c+32), a2)
			res[c] = hsum8(a1)
			h2 := hsum8(a2)
			VMULSS(f32Const("feighth", 0.125), h2, h2)
			VADDSS(h2, res[c], res[c])
		}
		k.end(res)
	})
}

func genTQ2_0() {
	eachCols(func(cols int) {
		k := newSuper("TQ2_0", cols, "tq2_0 x q8_K (ggml_vec_dot_tq2_0_q8_K)")
		k.loop(66, q8kSize, func() {
			k.zeroSumi() // int16 sums here
			for j := 0; j < 2; j++ {
				for l := 0; l < 4; l++ {
					q := YMM()
					VMOVDQU(k.wt(32*j), q)
					if l > 0 {
						VPSRLW(U8(2*l), q, q)
					}
					VPAND(mask3(), q, q)
					for c := 0; c < cols; c++ {
						p := YMM()
						VMOVDQU(k.act(c, q8kQs+128*j+32*l), p)
						VPMADDUBSW(p, q, p)
						VPADDW(p, k.sumi[c], k.sumi[c])
					}
				}
			}
			dx := f16x8(k.wt(64))
			for c := 0; c < cols; c++ {
				s := k.sumi[c]
				VPSUBW(k.act(c, q8kBsums), s, s)
				VPMADDWD(ones16(), s, s)
				VCVTDQ2PS(s, s)
				d := k.yd(c, dx)
				VFMADD231PS(d, s, k.acc[c])
			}
		})
		res := make([]VecVirtual, cols)
		for c := range res {
			res[c] = hsum8(k.acc[c])
		}
		k.end(res)
	})
}

// trits is ggml's tq1_0 digit extraction: from bytes holding base-3 digits scaled by 256/243,
// multiply by 3^l (bytewise) and take the top two bits of 3*(byte-1)/2+... (avg_epu8 trick).
func tritsTop(v VecVirtual) {
	VPSUBUSB(ones8(), v, v)
	z, t := YMM(), YMM()
	VPXOR(z, z, z)
	VPAVGB(z, v, t)
	VPAVGB(t, v, v)
	VPSRLW(U8(6), v, v)
	VPAND(mask3(), v, v)
}

// times9 returns v*9 bytewise: ((v << 3) & 0xf8) + v.
func times9(v VecVirtual) VecVirtual { return times9In(YMM(), v) }

// times9X is times9 on X registers.
func times9X(v VecVirtual) VecVirtual { return times9In(XMM(), v) }

func times9In(r, v VecVirtual) VecVirtual {
	VPSLLW(U8(3), v, r)
	VPAND(splat8("maskf8", 0xf8), r, r)
	VPADDB(v, r, r)
	return r
}

func genTQ1_0() {
	eachCols(func(cols int) {
		k := newSuper("TQ1_0", cols, "tq1_0 x q8_K (ggml_vec_dot_tq1_0_q8_K)")
		k.loop(54, q8kSize, func() {
			k.zeroSumi() // int16 sums here
			dot := func(v VecVirtual, off int) {
				for c := 0; c < cols; c++ {
					p := YMM()
					VPMADDUBSW(k.act(c, q8kQs+off), v, p)
					VPADDW(p, k.sumi[c], k.sumi[c])
				}
			}
			// The first 32 bytes: five digits each, against y[0:160]. Products are formed just
			// before use to keep few registers live.
			q0 := YMM()
			VMOVDQU(k.wt(0), q0)
			q1 := YMM()
			VPADDB(q0, q0, q1)
			VPADDB(q0, q1, q1) // *3
			q2 := times9(q0)   // *9
			tritsTop(q0)
			dot(q0, 0)
			q3 := times9(q1) // *27
			tritsTop(q1)
			dot(q1, 32)
			q4 := times9(q2) // *81
			tritsTop(q2)
			dot(q2, 64)
			tritsTop(q3)
			dot(q3, 96)
			tritsTop(q4)
			dot(q4, 128)
			// the last 16 bytes (five digits) and qh (four digits), against y[160:256]
			pair := func(lo, hi VecVirtual, off int) {
				v := YMM()
				VINSERTI128(U8(1), hi, lo.AsY(), v)
				tritsTop(v)
				dot(v, off)
			}
			r0 := XMM()
			VMOVDQU(k.wt(32), r0)
			r1 := XMM()
			VPADDB(r0, r0, r1)
			VPADDB(r0, r1, r1)
			r2 := times9X(r0)
			r3 := times9X(r1)
			pair(r0, r1, 160)
			r4 := times9X(r2)
			pair(r2, r3, 192)
			h := YMM()
			VPBROADCASTD(k.wt(48), h.AsX())
			VPMOVZXBW(h.AsX(), h)
			VPMULLW(bytesConst("tq1Pow3", []byte{
				1, 0, 1, 0, 1, 0, 1, 0, 3, 0, 3, 0, 3, 0, 3, 0,
				9, 0, 9, 0, 9, 0, 9, 0, 27, 0, 27, 0, 27, 0, 27, 0}), h, h)
			VPAND(splat16("low8", 0xff), h, h)
			hh := XMM()
			VEXTRACTI128(U8(1), h, hh)
			VPACKUSWB(hh, h.AsX(), hh)
			pair(r4, hh, 224)
			dx := f16x8(k.wt(52))
			for c := 0; c < cols; c++ {
				s := k.sumi[c]
				VPSUBW(k.act(c, q8kBsums), s, s)
				VPMADDWD(ones16(), s, s)
				VCVTDQ2PS(s, s)
				d := k.yd(c, dx)
				VFMADD231PS(d, s, k.acc[c])
			}
		})
		res := make([]VecVirtual, cols)
		for c := range res {
			res[c] = hsum8(k.acc[c])
		}
		k.end(res)
	})
}
