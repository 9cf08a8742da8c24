package main

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// Layout of the work area (float32 units). A "set" is eight groups, one per lane; a kernel runs
// one or two sets. Value i of group j of set s lives at X + 8*(n*s+i) + j (n values per group).
const (
	offX      = 0
	offW      = 512
	offAux    = 1024
	offScale  = 1536
	offMin    = 1552
	offIscale = 1568
	offMinL   = 1584
	offFlat   = 1600
	offSumW   = 1616
	offSigma  = 1632
	offConst  = 1640 // three int32 vectors: level bounds lo, hi
	offState  = 1664 // per set stateLen vectors
	stateLen  = 14
	workLen   = offState + 2*stateLen*8

	pNmax    = 0
	pNmaxI   = 1
	pNcand   = 2
	pNegNmax = 3
	pCand    = 8
	paramLen = 64
)

// per-set state vectors
const (
	stMax     = iota // max of the group
	stSumW           // sum of the weights
	stSumX           // sum of w*x
	stBest           // best error (qkx) or best sumlx²/suml2 (qx)
	stMin            // current min (qkx)
	stScale          // best scale
	stIscaleL        // inverse scale of the kept levels
	stMinL           // min of the kept levels (qkx)
	stIsc            // inverse scale of the current candidate
	stPosD           // D > 0 of the current candidate (qkx)
	stZero           // all-zero group (qx)
	stSumLX          // sumlx of the kept levels (q3)
	stSumL2          // suml2 of the kept levels (q3)
	stActive         // the group is still refining: every sweep so far changed a level (q3)
)

// weight modes
const (
	wRef   = iota // av_x + |x|, av_x = sqrt(sum x² / n)   (quantize_row_q4_K_ref, q5_K_ref)
	wAbs          // |x|                                    (quantize_row_q2_K_ref)
	wSigma        // qw * sqrt(sigma2 + x²), and their sum (quantize_row_q{2,3,4,5}_K_impl)
	wSq           // x²                                     (make_qx_quants rmse_type 1)
	wQW           // qw                                     (quantize_row_q6_K_impl)
)

// lk is the frame of one lane kernel: func(x, qw, p, wk *float32).
type lk struct {
	name         string
	n, sets      int
	x, qw, p, wk Register
}

func begin(name string, n, sets int, doc string) *lk {
	TEXT(name, NOSPLIT, "func(x, qw, p, wk *float32)")
	Pragma("noescape")
	Doc(doc)
	k := &lk{name: name, n: n, sets: sets}
	k.x = Load(Param("x"), GP64())
	k.qw = Load(Param("qw"), GP64())
	k.p = Load(Param("p"), GP64())
	k.wk = Load(Param("wk"), GP64())
	return k
}

func (k *lk) at(off int) Mem            { return Mem{Base: k.wk, Disp: 4 * off} }
func (k *lk) X(s, i int) Mem            { return k.at(offX + 8*(k.n*s+i)) }
func (k *lk) W(s, i int) Mem            { return k.at(offW + 8*(k.n*s+i)) }
func (k *lk) Aux(s, i int) Mem          { return k.at(offAux + 8*(k.n*s+i)) }
func (k *lk) WX(s, i int) Mem           { return k.W(k.sets+s, i) } // w*x after the weights (q3)
func (k *lk) res(off, s int) Mem        { return k.at(off + 8*s) }
func (k *lk) st(s, v int) Mem           { return k.at(offState + 8*(stateLen*s+v)) }
func (k *lk) lo() Mem                   { return k.at(offConst) }
func (k *lk) hi() Mem                   { return k.at(offConst + 8) }
func (k *lk) param(i int) Mem           { return Mem{Base: k.p, Disp: 4 * i} }
func (k *lk) load(m Mem) VecVirtual     { v := YMM(); VMOVUPS(m, v); return v }
func (k *lk) store(v VecVirtual, m Mem) { VMOVUPS(v, m) }

func (k *lk) zero() VecVirtual {
	z := YMM()
	VXORPS(z, z, z)
	return z
}

// ---- constants ----

var consts = map[string]Mem{}

func u32Const(name string, u uint32) Mem {
	if m, ok := consts[name]; ok {
		return m
	}
	m := GLOBL(name, RODATA|NOPTR)
	for i := 0; i < 32; i += 8 {
		DATA(i, U64(uint64(u)|uint64(u)<<32))
	}
	consts[name] = m
	return m
}

func f32Const(name string, f float32) Mem { return u32Const(name, math.Float32bits(f)) }

func absMask() Mem { return u32Const("absMask", 0x7fffffff) }
func magic() Mem   { return f32Const("magic", 12582912) } // nearest_int's 1.5*2^23
func mant() Mem    { return u32Const("mant", 0x007fffff) }
func half22() Mem  { return u32Const("half22", 0x00400000) }
func oneF() Mem    { return f32Const("one", 1) }
func nanF() Mem    { return u32Const("qnan", 0x7fc00000) }

// levels turns the products in t (iscale*x) into clamped levels, as floats, in place:
// MAX(lo, MIN(hi, nearest_int(t))). nearest_int adds 1.5*2^23 and reads the mantissa, which
// the integer lane ops do exactly, NaN and out-of-range values included.
func (k *lk) levels(t VecVirtual) {
	VADDPS(magic(), t, t)
	VPAND(mant(), t, t)
	VPSUBD(half22(), t, t)
	VPMINSD(k.hi(), t, t)
	VPMAXSD(k.lo(), t, t)
	VCVTDQ2PS(t, t)
}

// bounds stores the level bounds lo and hi (int32 vectors) in the work area.
func (k *lk) bounds(lo, hi func(v VecVirtual)) {
	v := YMM()
	lo(v)
	VMOVDQU(v, k.lo())
	w := YMM()
	hi(w)
	VMOVDQU(w, k.hi())
}

// transpose8 transposes the 8x8 tile whose row r starts at src+off+r*stride (bytes) into the
// eight 32-byte rows dst(0..7).
func transpose8(src Register, off, stride int, dst func(i int) Mem) {
	r := make([]VecVirtual, 8)
	for i := range r {
		r[i] = YMM()
		VMOVUPS(Mem{Base: src, Disp: off + i*stride}, r[i])
	}
	t := make([]VecVirtual, 8)
	for i := 0; i < 8; i += 2 {
		t[i], t[i+1] = YMM(), YMM()
		VUNPCKLPS(r[i+1], r[i], t[i])
		VUNPCKHPS(r[i+1], r[i], t[i+1])
	}
	s := make([]VecVirtual, 8)
	for i := 0; i < 8; i += 4 {
		for h := 0; h < 2; h++ {
			s[i+2*h], s[i+2*h+1] = YMM(), YMM()
			VSHUFPS(U8(0x44), t[i+2+h], t[i+h], s[i+2*h])
			VSHUFPS(U8(0xee), t[i+2+h], t[i+h], s[i+2*h+1])
		}
	}
	// s[0..3]: columns 0..3 of rows 0-3 (low lane) and columns 4..7 (high lane); s[4..7] rows 4-7
	for c := 0; c < 4; c++ {
		o := YMM()
		VPERM2F128(U8(0x20), s[4+c], s[c], o)
		VMOVUPS(o, dst(c))
		o2 := YMM()
		VPERM2F128(U8(0x31), s[4+c], s[c], o2)
		VMOVUPS(o2, dst(4+c))
	}
}

// transposeIn stores the rows of src (set s, group j, value i at src + 4*((8s+j)*n+i)) into
// the work area region at dst, lane-major.
func (k *lk) transposeIn(src Register, dst func(s, i int) Mem) {
	for s := 0; s < k.sets; s++ {
		for c := 0; c < k.n; c += 8 {
			s, c := s, c
			transpose8(src, 4*(8*s*k.n+c), 4*k.n, func(i int) Mem { return dst(s, c+i) })
		}
	}
}

// weights fills W (and SUMW) for the mode.
func (k *lk) weights(mode int) {
	switch mode {
	case wRef:
		// sum_x2 += x*x; av_x = sqrtf(sum_x2/n); weights = av_x + fabsf(x)
		nf := YMM()
		VBROADCASTSS(f32Const(fmt.Sprint("f", k.n), float32(k.n)), nf)
		for s := 0; s < k.sets; s++ {
			sum := k.zero()
			for i := 0; i < k.n; i++ {
				t := k.load(k.X(s, i))
				VMULPS(t, t, t)
				VADDPS(t, sum, sum)
			}
			VDIVPS(nf, sum, sum)
			VSQRTPS(sum, sum)
			abs := absMaskReg()
			for i := 0; i < k.n; i++ {
				t := YMM()
				VANDPS(k.X(s, i), abs, t)
				VADDPS(t, sum, t)
				k.store(t, k.W(s, i))
			}
		}
	case wAbs:
		abs := absMaskReg()
		for s := 0; s < k.sets; s++ {
			for i := 0; i < k.n; i++ {
				t := YMM()
				VANDPS(k.X(s, i), abs, t)
				k.store(t, k.W(s, i))
			}
		}
	case wSq:
		for s := 0; s < k.sets; s++ {
			for i := 0; i < k.n; i++ {
				t := k.load(k.X(s, i))
				VMULPS(t, t, t)
				k.store(t, k.W(s, i))
			}
		}
	case wQW:
		k.transposeIn(k.qw, k.W)
	case wSigma:
		// weights[l] = qw[l] * sqrtf(sigma2 + x*x); sumw = 0 + weights[0] + ...
		k.transposeIn(k.qw, k.W)
		for s := 0; s < k.sets; s++ {
			sig := YMM()
			VBROADCASTSS(k.at(offSigma+s), sig)
			sum := k.zero()
			for i := 0; i < k.n; i++ {
				t := k.load(k.X(s, i))
				VMULPS(t, t, t)
				VADDPS(t, sig, t)
				VSQRTPS(t, t)
				q := k.load(k.W(s, i))
				VMULPS(t, q, q)
				k.store(q, k.W(s, i))
				VADDPS(q, sum, sum)
			}
			k.store(sum, k.res(offSumW, s))
		}
	}
}

// absMaskReg loads the abs mask into a register (VANDPS takes its memory operand second).
func absMaskReg() VecVirtual {
	v := YMM()
	VMOVUPS(absMask(), v)
	return v
}

// ---------------------------------------------------------------------------------------------
// make_qkx2_quants / make_qkx3_quants, one group per lane.

func genQkx(name string, n, sets, wmode int, mad bool, doc string) {
	k := begin(name, n, sets, doc)
	k.transposeIn(k.x, k.X)
	k.weights(wmode)
	k.bounds(func(v VecVirtual) { VPXOR(v, v, v) }, func(v VecVirtual) { VPBROADCASTD(k.param(pNmaxI), v) })
	for s := 0; s < sets; s++ {
		k.qkxInit(s, mad)
	}
	kc, nc := GP64(), GP64()
	XORQ(kc, kc)
	MOVL(k.param(pNcand), nc.As32())
	Label(name + "_cand")
	k.qkxCandidate(kc, mad)
	INCQ(kc)
	CMPQ(kc, nc)
	JL(LabelRef(name + "_cand"))
	for s := 0; s < sets; s++ {
		// a flat group returns scale 0 (and keeps its first min)
		f := k.load(k.res(offFlat, s))
		sc := YMM()
		VANDNPS(k.st(s, stScale), f, sc)
		k.store(sc, k.res(offScale, s))
		k.store(k.load(k.st(s, stMin)), k.res(offMin, s))
		k.store(k.load(k.st(s, stIscaleL)), k.res(offIscale, s))
		k.store(k.load(k.st(s, stMinL)), k.res(offMinL, s))
	}
	VZEROUPPER()
	RET()
}

// qkxInit is make_qkx2_quants up to the candidate loop: min, max, sum_w, sum_x, the early exit
// (as a mask), the first levels and their error.
func (k *lk) qkxInit(s int, mad bool) {
	min := k.load(k.X(s, 0))
	max := YMM()
	VMOVAPS(min, max)
	sw := k.load(k.W(s, 0))
	sx := YMM()
	VMULPS(k.X(s, 0), sw, sx) // sum_w * x[0]
	for i := 1; i < k.n; i++ {
		xi := k.load(k.X(s, i))
		VMINPS(min, xi, min) // x < min ? x : min
		VMAXPS(max, xi, max) // x > max ? x : max
		VADDPS(k.W(s, i), sw, sw)
		t := k.load(k.W(s, i))
		VMULPS(xi, t, t) // w * x
		VADDPS(t, sx, sx)
	}
	z := k.zero()
	VMINPS(min, z, min) // 0 < min ? 0 : min: if (min > 0) min = 0
	flat := YMM()
	VCMPPS(U8(0), min, max, flat) // max == min
	k.store(flat, k.res(offFlat, s))
	k.store(max, k.st(s, stMax))
	k.store(sw, k.st(s, stSumW))
	k.store(sx, k.st(s, stSumX))
	k.store(min, k.st(s, stMin))
	k.store(min, k.st(s, stMinL))
	rng := YMM()
	VSUBPS(min, max, rng)
	isc := YMM()
	VBROADCASTSS(k.param(pNmax), isc)
	VDIVPS(rng, isc, isc) // nmax/(max - min)
	k.store(isc, k.st(s, stIscaleL))
	scale := YMM()
	VBROADCASTSS(oneF(), scale)
	VDIVPS(isc, scale, scale) // 1/iscale
	k.store(scale, k.st(s, stScale))
	err := k.zero()
	for i := 0; i < k.n; i++ {
		t := k.load(k.X(s, i))
		VSUBPS(min, t, t)
		VMULPS(t, isc, t) // iscale*(x - min)
		k.levels(t)
		d := YMM()
		VMULPS(t, scale, d) // scale*L
		VADDPS(min, d, d)   // + min
		VSUBPS(k.X(s, i), d, d)
		if mad {
			VANDPS(absMask(), d, d)
		} else {
			VMULPS(d, d, d)
		}
		VMULPS(k.W(s, i), d, d)
		VADDPS(d, err, err)
	}
	// a flat group never takes a candidate: its best error is NaN
	VBLENDVPS(flat, nanF(), err, err)
	k.store(err, k.st(s, stBest))
}

// qkxCandidate is one iteration of make_qkx2_quants' candidate loop on every set.
func (k *lk) qkxCandidate(kc Register, mad bool) {
	num := YMM()
	VBROADCASTSS(Mem{Base: k.p, Index: kc, Scale: 4, Disp: 4 * pCand}, num)
	for s := 0; s < k.sets; s++ {
		r := k.load(k.st(s, stMax))
		VSUBPS(k.st(s, stMin), r, r)
		VDIVPS(r, num, r) // (rmin + rdelta*is + nmax)/(max - min)
		k.store(r, k.st(s, stIsc))
	}
	type acc struct{ sl, sl2, sxl VecVirtual }
	a := make([]acc, k.sets)
	for s := range a {
		a[s] = acc{k.zero(), k.zero(), k.zero()}
	}
	for i := 0; i < k.n; i++ {
		for s := 0; s < k.sets; s++ {
			t := k.load(k.X(s, i))
			VSUBPS(k.st(s, stMin), t, t)
			VMULPS(k.st(s, stIsc), t, t)
			k.levels(t)
			k.store(t, k.Aux(s, i))
			wl := YMM()
			VMULPS(k.W(s, i), t, wl) // w*l
			VADDPS(wl, a[s].sl, a[s].sl)
			t2 := YMM()
			VMULPS(t, wl, t2) // w*l*l
			VADDPS(t2, a[s].sl2, a[s].sl2)
			VMULPS(k.X(s, i), wl, t2) // w*l*x
			VADDPS(t2, a[s].sxl, a[s].sxl)
		}
	}
	type fit struct{ ts, tm VecVirtual }
	f := make([]fit, k.sets)
	for s := 0; s < k.sets; s++ {
		sl, sl2, sxl := a[s].sl, a[s].sl2, a[s].sxl
		sw := k.load(k.st(s, stSumW))
		sx := k.load(k.st(s, stSumX))
		p, q := YMM(), YMM()
		VMULPS(sl2, sw, p) // sum_w * sum_l2
		VMULPS(sl, sl, q)  // sum_l * sum_l
		D := YMM()
		VSUBPS(q, p, D)
		ts := YMM()
		VMULPS(sxl, sw, ts) // sum_w * sum_xl
		VMULPS(sl, sx, q)   // sum_x * sum_l
		VSUBPS(q, ts, ts)
		VDIVPS(D, ts, ts)
		tm := YMM()
		VMULPS(sx, sl2, tm) // sum_l2 * sum_x
		VMULPS(sxl, sl, q)  // sum_l * sum_xl
		VSUBPS(q, tm, tm)
		VDIVPS(D, tm, tm)
		z := k.zero()
		pos := YMM()
		VCMPPS(U8(0x0e), z, D, pos) // D > 0
		k.store(pos, k.st(s, stPosD))
		VCMPPS(U8(0x0e), z, tm, pos) // this_min > 0: this_min = 0, this_scale = sum_xl/sum_l2
		VDIVPS(sl2, sxl, q)
		VBLENDVPS(pos, q, ts, ts)
		VBLENDVPS(pos, z, tm, tm)
		f[s] = fit{ts, tm}
	}
	errs := make([]VecVirtual, k.sets)
	for s := range errs {
		errs[s] = k.zero()
	}
	for i := 0; i < k.n; i++ {
		for s := 0; s < k.sets; s++ {
			d := YMM()
			VMULPS(k.Aux(s, i), f[s].ts, d) // this_scale*Laux[i]
			VADDPS(f[s].tm, d, d)           // + this_min
			VSUBPS(k.X(s, i), d, d)         // - x[i]
			if mad {
				VANDPS(absMask(), d, d)
			} else {
				VMULPS(d, d, d)
			}
			VMULPS(k.W(s, i), d, d)
			VADDPS(d, errs[s], errs[s])
		}
	}
	for s := 0; s < k.sets; s++ {
		m := YMM()
		VCMPPS(U8(0x01), k.st(s, stBest), errs[s], m) // cur_error < best_error
		VANDPS(k.st(s, stPosD), m, m)
		blend := func(v int, val Op) {
			o := k.load(k.st(s, v))
			VBLENDVPS(m, val, o, o)
			k.store(o, k.st(s, v))
		}
		blend(stBest, errs[s])
		blend(stScale, f[s].ts)
		blend(stIscaleL, k.st(s, stIsc))
		blend(stMinL, k.st(s, stMin))
		blend(stMin, f[s].tm)
	}
}

// ---------------------------------------------------------------------------------------------
// make_qx_quants (rmse_type 1, n = 16), the 16 groups of a block as two sets of eight lanes.

func genQx(name string, wmode int, doc string) {
	k := begin(name, 16, 2, doc)
	k.transposeIn(k.x, k.X)
	k.weights(wmode)
	// w*x, the factor of sumlx
	for s := 0; s < k.sets; s++ {
		for i := 0; i < k.n; i++ {
			t := k.load(k.W(s, i))
			VMULPS(k.X(s, i), t, t)
			k.store(t, k.Aux(s, i))
		}
	}
	k.qxBounds()
	for s := 0; s < k.sets; s++ {
		k.qxMax(s)
	}
	// the first levels: scale = suml2 ? sumlx/suml2 : 0; best = scale*sumlx
	k.qxPass(func(s int) Op { return k.st(s, stIscaleL) }, func(s int, slx, sl2 VecVirtual) {
		sc := YMM()
		VDIVPS(sl2, slx, sc)
		nz := YMM()
		z := k.zero()
		VCMPPS(U8(0x04), z, sl2, nz) // suml2 != 0 (true for NaN, as in C)
		VANDPS(nz, sc, sc)
		k.store(sc, k.st(s, stScale))
		VMULPS(slx, sc, sc) // scale * sumlx
		k.store(sc, k.st(s, stBest))
	})
	kc, nc := GP64(), GP64()
	XORQ(kc, kc)
	MOVL(k.param(pNcand), nc.As32())
	Label(name + "_cand")
	num := YMM()
	VBROADCASTSS(Mem{Base: k.p, Index: kc, Scale: 4, Disp: 4 * pCand}, num)
	for s := 0; s < k.sets; s++ {
		isc := YMM()
		VDIVPS(k.st(s, stMax), num, isc) // -(nmax + 0.1f*is) / max
		k.store(isc, k.st(s, stIsc))
	}
	k.qxPass(func(s int) Op { return k.st(s, stIsc) }, func(s int, slx, sl2 VecVirtual) {
		// if (suml2 > 0 && sumlx*sumlx > best*suml2) { scale = sumlx/suml2; best = scale*sumlx }
		z := k.zero()
		m := YMM()
		VCMPPS(U8(0x0e), z, sl2, m)
		l, r := YMM(), YMM()
		VMULPS(slx, slx, l)
		VMULPS(k.st(s, stBest), sl2, r) // best*suml2
		VCMPPS(U8(0x0e), r, l, r)
		VANDPS(r, m, m)
		sc := YMM()
		VDIVPS(sl2, slx, sc)
		o := k.load(k.st(s, stScale))
		VBLENDVPS(m, sc, o, o)
		k.store(o, k.st(s, stScale))
		VMULPS(slx, sc, sc)
		o = k.load(k.st(s, stBest))
		VBLENDVPS(m, sc, o, o)
		k.store(o, k.st(s, stBest))
		o = k.load(k.st(s, stIscaleL))
		VBLENDVPS(m, k.st(s, stIsc), o, o)
		k.store(o, k.st(s, stIscaleL))
	})
	INCQ(kc)
	CMPQ(kc, nc)
	JL(LabelRef(name + "_cand"))
	for s := 0; s < k.sets; s++ {
		f := k.load(k.res(offFlat, s))
		sc := YMM()
		VANDNPS(k.st(s, stScale), f, sc)
		k.store(sc, k.res(offScale, s))
		k.store(k.load(k.st(s, stIscaleL)), k.res(offIscale, s))
	}
	VZEROUPPER()
	RET()
}

// qxBounds stores the level bounds of make_qx_quants and make_q3_quants: [-nmax, nmax-1].
func (k *lk) qxBounds() {
	k.bounds(func(v VecVirtual) {
		VPBROADCASTD(k.param(pNmaxI), v)
		z := YMM()
		VPXOR(z, z, z)
		VPSUBD(v, z, v)
	}, func(v VecVirtual) {
		VPBROADCASTD(k.param(pNmaxI), v)
		VPSUBD(u32Const("ione", 1), v, v)
	})
}

// qxMax is the start of make_qx_quants and make_q3_quants for set s: max (the value of the
// largest magnitude, the first one on ties; NaNs never win), the early exit amax < GROUP_MAX_EPS
// as the flat mask, and the first inverse scale -nmax/max.
func (k *lk) qxMax(s int) {
	amax, max := k.zero(), k.zero()
	abs := absMaskReg()
	for i := 0; i < k.n; i++ {
		ax := YMM()
		VANDPS(k.X(s, i), abs, ax)
		gt := YMM()
		VCMPPS(U8(0x0e), amax, ax, gt) // ax > amax: amax = ax; max = x
		VBLENDVPS(gt, ax, amax, amax)
		VBLENDVPS(gt, k.X(s, i), max, max)
	}
	zero := YMM()
	VCMPPS(U8(0x01), f32Const("eps15", 1e-15), amax, zero) // amax < GROUP_MAX_EPS
	k.store(zero, k.res(offFlat, s))
	k.store(max, k.st(s, stMax))
	isc := YMM()
	VBROADCASTSS(k.param(pNegNmax), isc)
	VDIVPS(max, isc, isc) // -nmax / max
	k.store(isc, k.st(s, stIscaleL))
}

// qxPass sums sumlx += w*x*l and suml2 += w*l*l over the levels of iscale(s)*x, for both sets,
// then calls done per set.
func (k *lk) qxPass(isc func(s int) Op, done func(s int, slx, sl2 VecVirtual)) {
	iv := make([]VecVirtual, k.sets)
	slx := make([]VecVirtual, k.sets)
	sl2 := make([]VecVirtual, k.sets)
	for s := 0; s < k.sets; s++ {
		iv[s] = YMM()
		VMOVUPS(isc(s), iv[s])
		slx[s], sl2[s] = k.zero(), k.zero()
	}
	for i := 0; i < k.n; i++ {
		for s := 0; s < k.sets; s++ {
			t := YMM()
			VMULPS(k.X(s, i), iv[s], t) // iscale * x
			k.levels(t)
			u := YMM()
			VMULPS(k.Aux(s, i), t, u) // (w*x)*l
			VADDPS(u, slx[s], slx[s])
			VMULPS(k.W(s, i), t, u) // w*l
			VMULPS(t, u, u)         // *l
			VADDPS(u, sl2[s], sl2[s])
		}
	}
	for s := 0; s < k.sets; s++ {
		done(s, slx[s], sl2[s])
	}
}

// ---------------------------------------------------------------------------------------------
// make_q3_quants (do_rmse, n = 16), the 16 groups of a block as two sets of eight lanes.

// genQ3 is make_q3_quants(16, nmax, x, L, true): the levels of -nmax/max, then up to five
// sweeps of coordinate descent over the 16 values with weights x², a lane leaving the sweeps
// after the first one that changes none of its levels. The kept levels (-nmax..nmax-1, as
// floats) are left in Aux for the caller: they come from the refinement, not from one scale.
func genQ3(name, doc string) {
	k := begin(name, 16, 2, doc)
	if 2*k.n*k.sets > offAux-offW {
		panic("no room for w*x after the weights")
	}
	k.transposeIn(k.x, k.X)
	k.weights(wSq) // w = x[i]*x[i]
	for s := 0; s < k.sets; s++ {
		for i := 0; i < k.n; i++ {
			t := k.load(k.W(s, i))
			VMULPS(k.X(s, i), t, t) // w*x[i], the factor of sumlx
			k.store(t, k.WX(s, i))
		}
	}
	k.qxBounds()
	for s := 0; s < k.sets; s++ {
		k.qxMax(s)
	}
	// the first levels: l = MAX(-nmax, MIN(nmax-1, nearest_int(iscale*x[i]))); sumlx += w*x[i]*l;
	// suml2 += w*l*l
	iv := make([]VecVirtual, k.sets)
	slx := make([]VecVirtual, k.sets)
	sl2 := make([]VecVirtual, k.sets)
	for s := 0; s < k.sets; s++ {
		iv[s] = k.load(k.st(s, stIscaleL))
		slx[s], sl2[s] = k.zero(), k.zero()
	}
	for i := 0; i < k.n; i++ {
		for s := 0; s < k.sets; s++ {
			t := YMM()
			VMULPS(k.X(s, i), iv[s], t) // iscale * x[i]
			k.levels(t)
			k.store(t, k.Aux(s, i))
			u := YMM()
			VMULPS(k.WX(s, i), t, u) // (w*x[i])*l
			VADDPS(u, slx[s], slx[s])
			VMULPS(k.W(s, i), t, u) // w*l
			VMULPS(t, u, u)         // *l
			VADDPS(u, sl2[s], sl2[s])
		}
	}
	for s := 0; s < k.sets; s++ {
		k.store(slx[s], k.st(s, stSumLX))
		k.store(sl2[s], k.st(s, stSumL2))
		ones := YMM()
		VPCMPEQD(ones, ones, ones)
		act := YMM()
		VANDNPS(ones, k.load(k.res(offFlat, s)), act) // a flat group has returned already
		k.store(act, k.st(s, stActive))
	}
	it := GP64()
	MOVQ(U32(5), it)
	Label(name + "_sweep")
	k.q3Sweep()
	// a lane stops after a sweep that changed nothing (if (!n_changed) break)
	any := YMM()
	VMOVUPS(k.st(0, stActive), any)
	for s := 1; s < k.sets; s++ {
		VORPS(k.st(s, stActive), any, any)
	}
	msk := GP32()
	VMOVMSKPS(any, msk)
	TESTL(msk, msk)
	JZ(LabelRef(name + "_done"))
	DECQ(it)
	JNZ(LabelRef(name + "_sweep"))
	Label(name + "_done")
	// return suml2 > 0.0f ? sumlx / suml2 : 0.0f (0 for a flat group)
	for s := 0; s < k.sets; s++ {
		l2 := k.load(k.st(s, stSumL2))
		sc := k.load(k.st(s, stSumLX))
		VDIVPS(l2, sc, sc)
		pos := YMM()
		VCMPPS(U8(0x0e), k.zero(), l2, pos) // suml2 > 0 (false for NaN)
		VANDPS(pos, sc, sc)
		f := k.load(k.res(offFlat, s))
		VANDNPS(sc, f, sc)
		k.store(sc, k.res(offScale, s))
	}
	VZEROUPPER()
	RET()
}

// q3Sweep is one sweep of make_q3_quants' refinement over the 16 values, on the lanes still
// active; it clears the active bit of the lanes where it changed no level.
//
//	float slx = sumlx - w*x[i]*L[i];
//	if (slx > 0) {
//	    float sl2 = suml2 - w*L[i]*L[i];
//	    int new_l = MAX(-nmax, MIN(nmax-1, nearest_int(x[i] * sl2 / slx)));
//	    if (new_l != L[i]) {
//	        slx += w*x[i]*new_l; sl2 += w*new_l*new_l;
//	        if (sl2 > 0 && slx*slx*suml2 > sumlx*sumlx*sl2) { L[i] = new_l; sumlx = slx; suml2 = sl2; ++n_changed; }
//	    }
//	}
func (k *lk) q3Sweep() {
	sumlx := make([]VecVirtual, k.sets)
	suml2 := make([]VecVirtual, k.sets)
	changed := make([]VecVirtual, k.sets)
	for s := 0; s < k.sets; s++ {
		sumlx[s] = k.load(k.st(s, stSumLX))
		suml2[s] = k.load(k.st(s, stSumL2))
		changed[s] = k.zero()
	}
	for i := 0; i < k.n; i++ {
		for s := 0; s < k.sets; s++ {
			L := k.load(k.Aux(s, i))
			slx := YMM()
			VMULPS(k.WX(s, i), L, slx) // (w*x[i])*L[i]
			VSUBPS(slx, sumlx[s], slx) // sumlx - ...
			m := YMM()
			VCMPPS(U8(0x0e), k.zero(), slx, m) // slx > 0
			VANDPS(k.st(s, stActive), m, m)
			sl2 := YMM()
			VMULPS(k.W(s, i), L, sl2) // w*L[i]
			VMULPS(L, sl2, sl2)       // *L[i]
			VSUBPS(sl2, suml2[s], sl2)
			nl := YMM()
			VMULPS(k.X(s, i), sl2, nl) // x[i] * sl2
			VDIVPS(slx, nl, nl)        // / slx
			k.levels(nl)
			c := YMM()
			VCMPPS(U8(0x04), L, nl, c) // new_l != L[i]
			VANDPS(c, m, m)
			u := YMM()
			VMULPS(k.WX(s, i), nl, u) // (w*x[i])*new_l
			VADDPS(u, slx, slx)
			VMULPS(k.W(s, i), nl, u) // w*new_l
			VMULPS(nl, u, u)         // *new_l
			VADDPS(u, sl2, sl2)
			VCMPPS(U8(0x0e), k.zero(), sl2, c) // sl2 > 0
			VANDPS(c, m, m)
			lhs := YMM()
			VMULPS(slx, slx, lhs)      // slx*slx
			VMULPS(suml2[s], lhs, lhs) // *suml2
			VMULPS(sumlx[s], sumlx[s], c)
			VMULPS(sl2, c, c)           // sumlx*sumlx*sl2
			VCMPPS(U8(0x0e), c, lhs, c) // >
			VANDPS(c, m, m)
			VBLENDVPS(m, nl, L, L)
			k.store(L, k.Aux(s, i))
			VBLENDVPS(m, slx, sumlx[s], sumlx[s])
			VBLENDVPS(m, sl2, suml2[s], suml2[s])
			VORPS(m, changed[s], changed[s])
		}
	}
	for s := 0; s < k.sets; s++ {
		k.store(sumlx[s], k.st(s, stSumLX))
		k.store(suml2[s], k.st(s, stSumL2))
		VANDPS(k.st(s, stActive), changed[s], changed[s])
		k.store(changed[s], k.st(s, stActive))
	}
}
