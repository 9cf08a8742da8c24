package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// Kernels of the 256-value super-block types against q8_K activations, after ggml's AVX2
// ggml_vec_dot_{q2_K,q3_K,q4_K,q5_K,q6_K,iq4_xs}_q8_K (ggml-cpu/arch/x86/quants.c, MIT).
// A q8_K block is d (float32) at 0, 256 quants at 4 and 16 int16 sums at 260.

const (
	q8kQs    = 4
	q8kBsums = 260
	q8kSize  = 292
)

// k4Shuf is get_scale_shuffle_k4(i): both bytes of int16 scale i in every pair.
func k4Shuf(i int) Mem {
	b := make([]byte, 256)
	for j := 0; j < 8; j++ {
		for l := 0; l < 32; l += 2 {
			b[32*j+l], b[32*j+l+1] = byte(2*j), byte(2*j+1)
		}
	}
	return bytesConst("k4Shuf", b).Offset(32 * i)
}

// q3kShuf is get_scale_shuffle_q3k(i): int16 scale 2i in the low lane, 2i+1 in the high one.
func q3kShuf(i int) Mem {
	b := make([]byte, 128)
	for j := 0; j < 8; j++ {
		for l := 0; l < 16; l += 2 {
			b[16*j+l], b[16*j+l+1] = byte(2*j), byte(2*j+1)
		}
	}
	return bytesConst("q3kShuf", b).Offset(32 * i)
}

// q6Shuf is get_scale_shuffle(i): int8 scale 2i in bytes 0..7, 2i+1 in bytes 8..15.
func q6Shuf(i int) Mem {
	b := make([]byte, 128)
	for j := 0; j < 16; j++ {
		for l := 0; l < 8; l++ {
			b[8*j+l] = byte(j)
		}
	}
	return bytesConst("q6Shuf", b).Offset(16 * i)
}

// bitMask is a 32-byte constant of 1<<bit in every byte.
func bitMask(bit int) Mem {
	b := make([]byte, 256)
	for j := 0; j < 8; j++ {
		for l := 0; l < 32; l++ {
			b[32*j+l] = 1 << j
		}
	}
	return bytesConst("bitMasks", b).Offset(32 * bit)
}

// superKernel is the frame of a q8_K kernel: per super-block, setup (scales, mins), then body
// adding int32 partial sums into sumi[c], then acc[c] += d_c * float(sumi[c]) with
// d_c = y.d * fp16(x at dOff).
type superKernel struct {
	*kern
	acc, sumi []VecVirtual
}

func newSuper(base string, cols int, doc string) *superKernel {
	k := &superKernel{kern: begin(kname(base, cols), cols, doc)}
	k.acc = zeros(cols)
	k.sumi = make([]VecVirtual, cols)
	for c := range k.sumi {
		k.sumi[c] = YMM()
	}
	return k
}

// yd broadcasts column c's q8_K scale times the fp16 weight scale dx (all lanes).
func (k *superKernel) yd(c int, dx VecVirtual) VecVirtual {
	d := YMM()
	VBROADCASTSS(k.act(c, 0), d)
	VMULPS(dx, d, d)
	return d
}

// finish adds d_c * float(sumi[c]) into acc[c].
func (k *superKernel) finish(dOff int) {
	dx := f16x8(k.wt(dOff))
	for c := 0; c < k.cols; c++ {
		d := k.yd(c, dx)
		VCVTDQ2PS(k.sumi[c], k.sumi[c])
		VFMADD231PS(k.sumi[c], d, k.acc[c])
	}
}

func (k *superKernel) zeroSumi() {
	for _, s := range k.sumi {
		VPXOR(s, s, s)
	}
}

// addProducts multiplies the unsigned weight bytes q with each column's quants at qOff,
// weights the int16 pairs by scale (int16 lanes) and adds to sumi.
func (k *superKernel) addProducts(q, scale VecVirtual, qOff int) {
	for c := 0; c < k.cols; c++ {
		p := YMM()
		VPMADDUBSW(k.act(c, qOff), q, p) // the signed operand straight from memory

		VPMADDWD(p, scale, p)
		VPADDD(p, k.sumi[c], k.sumi[c])
	}
}

// unpackK4Scales is the utmp dance of q4_K/q5_K: the 12 scale bytes at off as eight 6-bit scales
// (words 0..7) and eight 6-bit mins (words 8..15) of a new YMM register.
func unpackK4Scales(k *kern, off int) VecVirtual {
	u0, u1, u2 := GP32(), GP32(), GP32()
	MOVL(k.wt(off), u0)
	MOVL(k.wt(off+4), u1)
	MOVL(k.wt(off+8), u2)
	t0, t1, t2, t3, h := GP32(), GP32(), GP32(), GP32(), GP32()
	// utmp3 = (u2>>4 & 0x0f0f0f0f) | (u1>>6 & 0x03030303)<<4
	MOVL(u2, t3)
	SHRL(U8(4), t3)
	ANDL(U32(0x0f0f0f0f), t3)
	MOVL(u1, h)
	SHRL(U8(6), h)
	ANDL(U32(0x03030303), h)
	SHLL(U8(4), h)
	ORL(h, t3)
	// utmp1 = (u2 & 0x0f0f0f0f) | (u0>>6 & 0x03030303)<<4
	MOVL(u2, t1)
	ANDL(U32(0x0f0f0f0f), t1)
	MOVL(u0, h)
	SHRL(U8(6), h)
	ANDL(U32(0x03030303), h)
	SHLL(U8(4), h)
	ORL(h, t1)
	// utmp2 = u1 & 0x3f3f3f3f, utmp0 = u0 & 0x3f3f3f3f
	MOVL(u1, t2)
	ANDL(U32(0x3f3f3f3f), t2)
	MOVL(u0, t0)
	ANDL(U32(0x3f3f3f3f), t0)
	x := XMM()
	VMOVD(t0, x)
	VPINSRD(U8(1), t1, x, x)
	VPINSRD(U8(2), t2, x, x)
	VPINSRD(U8(3), t3, x, x)
	y := YMM()
	VPMOVZXBW(x, y)
	return y
}

// dupLow returns a YMM register holding the low 128 bits of y in both lanes.
func dupLow(y VecVirtual) VecVirtual {
	d := YMM()
	VINSERTI128(U8(1), y.AsX(), y, d)
	return d
}

// mins4 returns, for q4_K/q5_K, the int32x4 of mins·(bsums paired) for column c:
// madd(mins, hadd(bsums lo, bsums hi)).
func (k *superKernel) mins4(c int, mins VecVirtual) VecVirtual {
	q := XMM()
	VMOVDQU(k.act(c, q8kBsums), q)
	VPHADDW(k.act(c, q8kBsums+16), q, q)
	VPMADDWD(q, mins, q)
	return q
}

func genQ4K() {
	eachCols(func(cols int) {
		k := newSuper("Q4K", cols, "q4_K x q8_K (ggml_vec_dot_q4_K_q8_K)")
		// acc_m: registers for one column, the stack for four
		var accm []VecVirtual
		var accmMem Mem
		if cols == 1 {
			accm = []VecVirtual{XMM()}
			VXORPS(accm[0], accm[0], accm[0])
		} else {
			accmMem = AllocLocal(16 * cols)
			z := XMM()
			VXORPS(z, z, z)
			for c := 0; c < cols; c++ {
				VMOVUPS(z, accmMem.Offset(16*c))
			}
		}
		k.loop(144, q8kSize, func() {
			mas := unpackK4Scales(k.kern, 4)
			mins := XMM()
			VEXTRACTI128(U8(1), mas, mins)
			dmx := f16x8(k.wt(2))
			for c := 0; c < cols; c++ {
				prod := k.mins4(c, mins)
				VCVTDQ2PS(prod, prod)
				dm := k.yd(c, dmx)
				if cols == 1 {
					VFNMADD231PS(prod, dm.AsX(), accm[0])
				} else {
					a := XMM()
					VMOVUPS(accmMem.Offset(16*c), a)
					VFNMADD231PS(prod, dm.AsX(), a)
					VMOVUPS(a, accmMem.Offset(16*c))
				}
			}
			scales := dupLow(mas)
			k.zeroSumi()
			for j := 0; j < 4; j++ {
				for h := 0; h < 2; h++ {
					sc := YMM()
					VPSHUFB(k4Shuf(2*j+h), scales, sc)
					q := YMM()
					VMOVDQU(k.wt(16+32*j), q)
					if h == 1 {
						VPSRLW(U8(4), q, q)
					}
					VPAND(mask4(), q, q)
					k.addProducts(q, sc, q8kQs+64*j+32*h)
				}
			}
			k.finish(0)
		})
		res := make([]VecVirtual, cols)
		for c := range res {
			res[c] = hsum8(k.acc[c])
			m := XMM()
			if cols == 1 {
				m = accm[0]
			} else {
				VMOVUPS(accmMem.Offset(16*c), m)
			}
			u := XMM()
			VMOVHLPS(m, m, u)
			VADDPS(u, m, m)
			VMOVSHDUP(m, u)
			VADDSS(u, m, m)
			VADDSS(m, res[c], res[c])
		}
		k.end(res)
	})
}

func genQ5K() {
	eachCols(func(cols int) {
		k := newSuper("Q5K", cols, "q5_K x q8_K (ggml_vec_dot_q5_K_q8_K)")
		var summs []VecVirtual
		var summsMem Mem
		if cols == 1 {
			summs = []VecVirtual{XMM()}
			VXORPS(summs[0], summs[0], summs[0])
		} else {
			summsMem = AllocLocal(16 * cols)
			z := XMM()
			VXORPS(z, z, z)
			for c := 0; c < cols; c++ {
				VMOVUPS(z, summsMem.Offset(16*c))
			}
		}
		k.loop(176, q8kSize, func() {
			mas := unpackK4Scales(k.kern, 4)
			mins := XMM()
			VEXTRACTI128(U8(1), mas, mins)
			dmx := f16x8(k.wt(2))
			for c := 0; c < cols; c++ {
				prod := k.mins4(c, mins)
				// summs += dmin * hsum(prod), dmin = -y.d * fp16(x.dmin)
				s := hsumI32x4(prod)
				VCVTDQ2PS(s, s)
				dm := k.yd(c, dmx)
				if cols == 1 {
					VFNMADD231SS(s, dm.AsX(), summs[0])
				} else {
					a := XMM()
					VMOVSS(summsMem.Offset(16*c), a)
					VFNMADD231SS(s, dm.AsX(), a)
					VMOVSS(a, summsMem.Offset(16*c))
				}
			}
			scales := dupLow(mas)
			k.zeroSumi()
			for j := 0; j < 4; j++ {
				for h := 0; h < 2; h++ {
					bit := 2*j + h
					sc := YMM()
					VPSHUFB(k4Shuf(2*j+h), scales, sc)
					q := YMM()
					VMOVDQU(k.wt(48+32*j), q)
					if h == 1 {
						VPSRLW(U8(4), q, q)
					}
					VPAND(mask4(), q, q)
					hb := YMM()
					VMOVDQU(bitMask(bit), hb)
					VPAND(k.wt(16), hb, hb)
					if bit > 0 {
						VPSRLW(U8(bit), hb, hb)
					}
					VPSLLW(U8(4), hb, hb)
					VPADDB(hb, q, q)
					k.addProducts(q, sc, q8kQs+64*j+32*h)
				}
			}
			k.finish(0)
		})
		res := make([]VecVirtual, cols)
		for c := range res {
			res[c] = hsum8(k.acc[c])
			if cols == 1 {
				VADDSS(summs[0], res[c], res[c])
			} else {
				VADDSS(summsMem.Offset(16*c), res[c], res[c])
			}
		}
		k.end(res)
	})
}

// hsumI32x4 is hadd_epi32(hadd_epi32(p, 0), 0): the sum of the four int32 lanes in lane 0.
func hsumI32x4(p VecVirtual) VecVirtual {
	z := XMM()
	VPXOR(z, z, z)
	s := XMM()
	VPHADDD(z, p, s)
	VPHADDD(z, s, s)
	return s
}

func genQ6K() {
	eachCols(func(cols int) {
		k := newSuper("Q6K", cols, "q6_K x q8_K (ggml_vec_dot_q6_K_q8_K)")
		k.loop(210, q8kSize, func() {
			// sumi starts at -(madd(bsums, scales) << 5): the -32 offset of the quants
			s16 := YMM()
			VPMOVSXBW(k.wt(192), s16)
			for c := 0; c < cols; c++ {
				VPXOR(k.sumi[c], k.sumi[c], k.sumi[c])
				t := YMM()
				VPMADDWD(k.act(c, q8kBsums), s16, t)
				VPSLLD(U8(5), t, t)
				VPSUBD(t, k.sumi[c], k.sumi[c])
			}
			scales := XMM()
			VMOVDQU(k.wt(192), scales)
			for j := 0; j < 2; j++ {
				b1, b2, hh := k.wt(64*j), k.wt(64*j+32), k.wt(128+32*j)
				for i := 0; i < 4; i++ {
					q, h := YMM(), YMM()
					if i%2 == 0 {
						VMOVDQU(b1, q)
					} else {
						VMOVDQU(b2, q)
					}
					if i >= 2 {
						VPSRLW(U8(4), q, q)
					}
					VPAND(mask4(), q, q)
					VMOVDQU(hh, h)
					switch i {
					case 0:
						VPAND(mask3(), h, h)
						VPSLLW(U8(4), h, h)
					case 1:
						VPAND(splat8("mask0c", 0x0c), h, h)
						VPSLLW(U8(2), h, h)
					case 2:
						VPAND(splat8("mask30", 0x30), h, h)
					case 3:
						VPAND(splat8("maskc0", 0xc0), h, h)
						VPSRLW(U8(2), h, h)
					}
					VPOR(h, q, q)
					sx := XMM()
					VPSHUFB(q6Shuf(4*j+i), scales, sx)
					sc := YMM()
					VPMOVSXBW(sx, sc)
					k.addProducts(q, sc, q8kQs+128*j+32*i)
				}
			}
			k.finish(208)
		})
		res := make([]VecVirtual, cols)
		for c := range res {
			res[c] = hsum8(k.acc[c])
		}
		k.end(res)
	})
}

func genQ3K() {
	eachCols(func(cols int) {
		k := newSuper("Q3K", cols, "q3_K x q8_K (ggml_vec_dot_q3_K_q8_K)")
		scalesMem := AllocLocal(64)
		k.loop(110, q8kSize, func() {
			// the 16 6-bit scales, minus 32, as int16 in two duplicated halves on the stack
			a0, a1, a2 := GP32(), GP32(), GP32()
			MOVL(k.wt(96), a0)
			MOVL(k.wt(100), a1)
			MOVL(k.wt(104), a2)
			x := XMM()
			for l := 0; l < 4; l++ {
				v, h := GP32(), GP32()
				if l%2 == 0 {
					MOVL(a0, v)
				} else {
					MOVL(a1, v)
				}
				if l >= 2 {
					SHRL(U8(4), v)
				}
				ANDL(U32(0x0f0f0f0f), v)
				MOVL(a2, h)
				if l > 0 {
					SHRL(U8(2*l), h)
				}
				ANDL(U32(0x03030303), h)
				SHLL(U8(4), h)
				ORL(h, v)
				if l == 0 {
					VMOVD(v, x)
				} else {
					VPINSRD(U8(l), v, x, x)
				}
			}
			VPSUBB(splat8("thirtytwos", 32), x, x)
			all := YMM()
			VPMOVSXBW(x, all)
			lo := dupLow(all)
			VMOVDQU(lo, scalesMem)
			hi := YMM()
			VPERM2I128(U8(0x11), all, all, hi)
			VMOVDQU(hi, scalesMem.Offset(32))
			hbits := YMM()
			VMOVDQU(k.wt(0), hbits)
			k.zeroSumi()
			for j := 0; j < 2; j++ {
				for i := 0; i < 4; i++ {
					bit := 4*j + i
					ql := YMM()
					VMOVDQU(k.wt(32+32*j), ql)
					if i > 0 {
						VPSRLW(U8(2*i), ql, ql)
					}
					VPAND(mask3(), ql, ql)
					qh := YMM()
					VPANDN(bitMask(bit), hbits, qh)
					if bit > 0 {
						VPSRLW(U8(bit), qh, qh)
					}
					VPSLLW(U8(2), qh, qh)
					sc := YMM()
					VMOVDQU(scalesMem.Offset(32*j), sc)
					VPSHUFB(q3kShuf(i), sc, sc)
					for c := 0; c < cols; c++ {
						q8, p := YMM(), YMM()
						VMOVDQU(k.act(c, q8kQs+128*j+32*i), q8)
						VPMADDUBSW(q8, ql, p)
						VPMADDUBSW(q8, qh, q8)
						VPSUBW(q8, p, p)
						VPMADDWD(p, sc, p)
						VPADDD(p, k.sumi[c], k.sumi[c])
					}
				}
			}
			k.finish(108)
		})
		res := make([]VecVirtual, cols)
		for c := range res {
			res[c] = hsum8(k.acc[c])
		}
		k.end(res)
	})
}

func genQ2K() {
	eachCols(func(cols int) {
		k := newSuper("Q2K", cols, "q2_K x q8_K (ggml_vec_dot_q2_K_q8_K)")
		scalesMem := AllocLocal(64)
		k.loop(84, q8kSize, func() {
			mas := XMM()
			VMOVDQU(k.wt(0), mas)
			m8 := XMM()
			VPSRLW(U8(4), mas, m8)
			VPAND(mask4(), m8, m8)
			VPAND(mask4(), mas, mas)
			mins := YMM()
			VPMOVSXBW(m8, mins)
			// acc += dmin * mins·bsums, dmin = -y.d * fp16(x.dmin)
			dmx := f16x8(k.wt(82))
			for c := 0; c < cols; c++ {
				p := YMM()
				VPMADDWD(k.act(c, q8kBsums), mins, p)
				VCVTDQ2PS(p, p)
				dm := k.yd(c, dmx)
				VFNMADD231PS(p, dm, k.acc[c])
			}
			all := YMM()
			VPMOVSXBW(mas, all)
			lo := dupLow(all)
			VMOVDQU(lo, scalesMem)
			hi := YMM()
			VPERM2I128(U8(0x11), all, all, hi)
			VMOVDQU(hi, scalesMem.Offset(32))
			k.zeroSumi()
			for j := 0; j < 2; j++ {
				for i := 0; i < 4; i++ {
					q := YMM()
					VMOVDQU(k.wt(16+32*j), q)
					if i > 0 {
						VPSRLW(U8(2*i), q, q)
					}
					VPAND(mask3(), q, q)
					sc := YMM()
					VMOVDQU(scalesMem.Offset(32*j), sc)
					VPSHUFB(q3kShuf(i), sc, sc)
					k.addProducts(q, sc, q8kQs+128*j+32*i)
				}
			}
			k.finish(80)
		})
		res := make([]VecVirtual, cols)
		for c := range res {
			res[c] = hsum8(k.acc[c])
		}
		k.end(res)
	})
}

// iq4xsScale returns the int16 scale of IQ4_XS sub-block ib in all lanes: the scales_l nibble
// and two bits of scales_h, minus 32.
func iq4xsScale(k *kern, ib int) VecVirtual {
	ls, t := GP32(), GP32()
	MOVBLZX(k.wt(4+ib/2), ls)
	if ib%2 == 1 {
		SHRL(U8(4), ls)
	}
	ANDL(U32(0xf), ls)
	MOVWLZX(k.wt(2), t)
	if ib > 0 {
		SHRL(U8(2*ib), t)
	}
	ANDL(U32(3), t)
	SHLL(U8(4), t)
	ORL(t, ls)
	SUBL(U32(32), ls)
	lsx := XMM()
	VMOVD(ls, lsx)
	lsv := YMM()
	VPBROADCASTW(lsx, lsv)
	return lsv
}

func genIQ4XS() {
	eachCols(func(cols int) {
		k := newSuper("IQ4XS", cols, "iq4_xs x q8_K (ggml_vec_dot_iq4_xs_q8_K)")
		values := nlValues(iq4nl)
		k.loop(136, q8kSize, func() {
			k.zeroSumi()
			for ib := 0; ib < 8; ib++ {
				lsv := iq4xsScale(k.kern, ib)
				x := iq4Lookup(values, k.wt(8+16*ib))
				ax := YMM()
				VPSIGNB(x, x, ax)
				for c := 0; c < cols; c++ {
					y := YMM()
					VMOVDQU(k.act(c, q8kQs+32*ib), y)
					VPSIGNB(x, y, y)
					VPMADDUBSW(y, ax, y)
					VPMADDWD(lsv, y, y)
					VPADDD(y, k.sumi[c], k.sumi[c])
				}
			}
			k.finish(0)
		})
		res := make([]VecVirtual, cols)
		for c := range res {
			res[c] = hsum8(k.acc[c])
		}
		k.end(res)
	})
}
