package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// Four-column kernels of the 32-value block types over an activation panel: MatMul interleaves
// four q8_0 (or q8_1) activation rows block by block, with the fp16 scales already converted,
//
//	q8_0 panel block (144 bytes): d[4] float32, qs[4][32]
//	q8_1 panel block (160 bytes): d[4] float32, s[4] float32, qs[4][32]
//
// so each column's scale is one broadcast load and all four columns' quants share one pointer.
// The per-column arithmetic is that of the one-column kernels, so results are bit-identical.

const (
	panelQ8_0 = 144
	panelQ8_1 = 160
)

// panelScale returns column c's activation scale (float32 at off+4c) times dx, in all lanes.
func panelScale(k *kern, off, c int, dx VecVirtual) VecVirtual {
	d := YMM()
	VBROADCASTSS(Mem{Base: k.a, Disp: off + 4*c}, d)
	VMULPS(d, dx, d)
	return d
}

func q8x0Panel(name string, wsize int, decode func(k *kern) VecVirtual, doc string) {
	k := beginPanel("dot4p"+name+"AVX2", doc)
	acc := zeros(4)
	k.loop(wsize, panelQ8_0, func() {
		x := decode(k)
		ax := YMM()
		VPSIGNB(x, x, ax)
		dx := f16x8(k.wt(0))
		for c := 0; c < 4; c++ {
			q := signedDot(x, ax, Mem{Base: k.a, Disp: 16 + 32*c})
			d := panelScale(k, 0, c, dx)
			VFMADD231PS(q, d, acc[c])
		}
	})
	res := make([]VecVirtual, 4)
	for c := range res {
		res[c] = hsum8(acc[c])
	}
	k.end(res)
}

func q8x1Panel(name string, wsize int, decode func(k *kern) VecVirtual, doc string) {
	k := beginPanel("dot4p"+name+"AVX2", doc)
	acc := zeros(4)
	summs := make([]VecVirtual, 4)
	for c := range summs {
		summs[c] = XMM()
		VXORPS(summs[c], summs[c], summs[c])
	}
	k.loop(wsize, panelQ8_1, func() {
		m := f16x8(k.wt(2))
		for c := 0; c < 4; c++ {
			VFMADD231SS(Mem{Base: k.a, Disp: 16 + 4*c}, m.AsX(), summs[c])
		}
		x := decode(k)
		dx := f16x8(k.wt(0))
		for c := 0; c < 4; c++ {
			q := unsignedDot(x, Mem{Base: k.a, Disp: 32 + 32*c})
			d := panelScale(k, 0, c, dx)
			VFMADD231PS(q, d, acc[c])
		}
	})
	res := make([]VecVirtual, 4)
	for c := range res {
		res[c] = hsum8(acc[c])
		VADDSS(summs[c], res[c], res[c])
	}
	k.end(res)
}

func nlPanel(t nlType) {
	k := beginPanel("dot4p"+t.name+"AVX2", lower(t.name)+" x four q8_0 columns in a panel")
	values := nlValues(t)
	acc1, acc2 := zeros(4), zeros(4)
	pairs := GP64()
	MOVQ(k.nb, pairs)
	SHRQ(U8(1), pairs)
	JZ(LabelRef(k.name + "_tail"))
	Label(k.name + "_loop")
	for half, acc := range [][]VecVirtual{acc1, acc2} {
		wo, ao := t.wsize*half, panelQ8_0*half
		x := iq4Lookup(values, k.wt(wo+t.qs))
		ax := YMM()
		VPSIGNB(x, x, ax)
		dx := t.scale(k, wo)
		for c := 0; c < 4; c++ {
			q := signedDot(x, ax, Mem{Base: k.a, Disp: ao + 16 + 32*c})
			d := panelScale(k, ao, c, dx)
			VFMADD231PS(q, d, acc[c])
		}
	}
	ADDQ(U32(2*t.wsize), k.w)
	ADDQ(U32(2*panelQ8_0), k.a)
	DECQ(pairs)
	JNZ(LabelRef(k.name + "_loop"))
	Label(k.name + "_tail")
	res := make([]VecVirtual, 4)
	for c := range res {
		VADDPS(acc2[c], acc1[c], acc1[c])
		res[c] = hsum8(acc1[c])
	}
	TESTQ(U32(1), k.nb)
	JZ(LabelRef(k.name + "_done"))
	x := iq4Lookup(values, k.wt(t.qs))
	ax := YMM()
	VPSIGNB(x, x, ax)
	dx := t.scale(k, 0)
	for c := 0; c < 4; c++ {
		y := YMM()
		VMOVDQU(Mem{Base: k.a, Disp: 16 + 32*c}, y)
		VPSIGNB(x, y, y)
		VPMADDUBSW(y, ax, y)
		VPMADDWD(ones16(), y, y)
		s := hsumI32(y)
		VCVTDQ2PS(s, s)
		d := panelScale(k, 0, c, dx)
		VFMADD231SS(s, d.AsX(), res[c])
	}
	Label(k.name + "_done")
	k.end(res)
}

func genPanels() {
	q8x0Panel("Q8_0", 34, func(k *kern) VecVirtual {
		x := YMM()
		VMOVDQU(k.wt(2), x)
		return x
	}, "q8_0 x four q8_0 columns in a panel")
	q8x0Panel("Q4_0", 18, func(k *kern) VecVirtual {
		x := nibbles(k.wt(2))
		VPSUBB(eight8(), x, x)
		return x
	}, "q4_0 x four q8_0 columns in a panel")
	q8x0Panel("Q5_0", 22, func(k *kern) VecVirtual {
		x := nibbles(k.wt(6))
		h := bitsToBytes(k.wt(2))
		VPANDN(splat8("maskf0", 0xf0), h, h)
		VPOR(h, x, x)
		return x
	}, "q5_0 x four q8_0 columns in a panel")
	q8x1Panel("Q4_1", 20, func(k *kern) VecVirtual {
		return nibbles(k.wt(4))
	}, "q4_1 x four q8_1 columns in a panel")
	q8x1Panel("Q5_1", 24, func(k *kern) VecVirtual {
		x := nibbles(k.wt(8))
		h := bitsToBytes(k.wt(4))
		VPAND(splat8("mask10", 0x10), h, h)
		VPOR(h, x, x)
		return x
	}, "q5_1 x four q8_1 columns in a panel")
	nlPanel(iq4nl)
	nlPanel(mxfp4)
}
