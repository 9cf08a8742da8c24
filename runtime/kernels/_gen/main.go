// Command _gen generates the AVX2 assembly kernels of package kernels with avo.
//
//	cd runtime/kernels/_gen && go run . -out ../kernels_amd64.s -stubs ../kernels_amd64.go -pkg kernels
//
// Each kernel is ported from ggml's AVX2 intrinsics (ggml/src/ggml-cpu/arch/x86/quants.c and
// vec.cpp, MIT license): same instructions in the same order for the per-row kernels, so that
// their float results are those of ggml's vec_dot. The four-column kernels decode each weight
// block once and run the per-row arithmetic of every column on it, with the same per-column
// order, so MatMul gives the same bits as VecDot.
//
// The lattice tables the i-quant kernels embed are read from internal/iqgrid of the main module
// (go.mod replaces github.com/ggufy/ggufy with this working tree): regenerate those first
// (go generate ./internal/iqgrid), then this.
package main

import (
	"fmt"
	"os"
	"regexp"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

//go:generate go run . -out ../kernels_amd64.s -stubs ../kernels_amd64.go -pkg kernels
//go:generate go run ./vexp -out ../vexp_amd64.s -stubs ../vexp_amd64.go -pkg kernels

func main() {
	ConstraintExpr("!purego")

	genFloat()
	genQ8_0()
	genQ4_0()
	genQ5_0()
	genQ4_1()
	genQ5_1()
	genIQ4NL()
	genMXFP4()
	genPanels()
	genIQ2XXS()
	genIQ2XS()
	genIQ2S()
	genIQ3XXS()
	genIQ3S()
	genIQ1S()
	genIQ1M()
	genTQ1_0()
	genTQ2_0()
	genQ2K()
	genQ3K()
	genQ4K()
	genQ5K()
	genQ6K()
	genIQ4XS()
	genQuantQ8_0()
	genQuantQ8K()
	genQuantF16()
	genQuantBF16()

	Generate()
	checkVEX()
}

// checkVEX fails if the register allocator used a register only EVEX (AVX-512) can encode:
// the kernels must run on AVX2 machines.
func checkVEX() {
	for i, a := range os.Args {
		if a == "-out" && i+1 < len(os.Args) {
			b, err := os.ReadFile(os.Args[i+1])
			if err != nil {
				panic(err)
			}
			if m := regexp.MustCompile(`\b[XYZ](1[6-9]|2[0-9]|3[01])\b|\bZ[0-9]+\b|\bK[1-7]\b`).Find(b); m != nil {
				fmt.Fprintf(os.Stderr, "generated code uses the AVX-512 register %s\n", m)
				os.Exit(1)
			}
		}
	}
}

// kern is the frame of one kernel: nb blocks of weights at w against cols activation rows at
// a, a+stride, a+2*stride, a+3*stride.
type kern struct {
	cols   int
	nb     Register // blocks left
	w, a   Register // current weight and activation block
	s, s3  Register // stride and 3*stride (four columns only)
	name   string
	single bool
	panel  bool // four columns interleaved in one panel (see q0.go), no stride
}

// begin opens a kernel. The one-column form is func(nb int, w, a *byte) float32, the
// four-column form func(nb int, w, a *byte, stride int, out *[4]float32).
func begin(name string, cols int, doc ...string) *kern {
	k := &kern{cols: cols, name: name, single: cols == 1}
	if cols == 1 {
		TEXT(name, NOSPLIT, "func(nb int, w, a *byte) float32")
	} else {
		TEXT(name, NOSPLIT, "func(nb int, w, a *byte, stride int, out *[4]float32)")
	}
	Pragma("noescape")
	Doc(doc...)
	k.nb = Load(Param("nb"), GP64())
	k.w = Load(Param("w"), GP64())
	k.a = Load(Param("a"), GP64())
	if cols > 1 {
		k.s = Load(Param("stride"), GP64())
		k.s3 = GP64()
		LEAQ(Mem{Base: k.s, Index: k.s, Scale: 2}, k.s3)
	}
	return k
}

// beginPanel opens a four-column kernel over an activation panel:
// func(nb int, w, a *byte, out *[4]float32).
func beginPanel(name string, doc ...string) *kern {
	k := &kern{cols: 4, name: name, panel: true}
	TEXT(name, NOSPLIT, "func(nb int, w, a *byte, out *[4]float32)")
	Pragma("noescape")
	Doc(doc...)
	k.nb = Load(Param("nb"), GP64())
	k.w = Load(Param("w"), GP64())
	k.a = Load(Param("a"), GP64())
	return k
}

// act returns the memory operand at byte disp of column c's current activation block.
func (k *kern) act(c, disp int) Mem {
	if k.panel {
		panic("act on a panel kernel")
	}
	switch c {
	case 0:
		return Mem{Base: k.a, Disp: disp}
	case 1:
		return Mem{Base: k.a, Index: k.s, Scale: 1, Disp: disp}
	case 2:
		return Mem{Base: k.a, Index: k.s, Scale: 2, Disp: disp}
	case 3:
		return Mem{Base: k.a, Index: k.s3, Scale: 1, Disp: disp}
	}
	panic("column")
}

// wt returns the memory operand at byte disp of the current weight block.
func (k *kern) wt(disp int) Mem { return Mem{Base: k.w, Disp: disp} }

// loop emits the block loop: body, then advance w and a by the block sizes.
func (k *kern) loop(wsize, asize int, body func()) {
	Label(k.name + "_loop")
	body()
	ADDQ(U32(wsize), k.w)
	ADDQ(U32(asize), k.a)
	DECQ(k.nb)
	JNZ(LabelRef(k.name + "_loop"))
}

// end stores the per-column results (lane 0 of each X register) and returns.
func (k *kern) end(res []VecVirtual) {
	if k.single {
		VZEROUPPER()
		Store(res[0], ReturnIndex(0))
		RET()
		return
	}
	out := Load(Param("out"), GP64())
	for c, r := range res {
		VMOVSS(r, Mem{Base: out, Disp: 4 * c})
	}
	VZEROUPPER()
	RET()
}

// zeros returns n zeroed YMM accumulators.
func zeros(n int) []VecVirtual {
	v := make([]VecVirtual, n)
	for i := range v {
		v[i] = YMM()
		VXORPS(v[i], v[i], v[i])
	}
	return v
}

// hsum8 is ggml's hsum_float_8: ((hi+lo) + movehl) + movehdup, into lane 0 of an X register.
func hsum8(acc VecVirtual) VecVirtual {
	t, u := XMM(), XMM()
	VEXTRACTF128(U8(1), acc, t)
	VADDPS(acc.AsX(), t, t)
	VMOVHLPS(t, t, u)
	VADDPS(u, t, t)
	VMOVSHDUP(t, u)
	VADDSS(u, t, t)
	return t
}

// f16x8 loads the fp16 at m, converted, into all eight lanes of a new YMM register.
func f16x8(m Mem) VecVirtual {
	x := XMM()
	VPBROADCASTW(m, x)
	y := YMM()
	VCVTPH2PS(x, y)
	return y
}

// ---- constants ----

var consts = map[string]Mem{}

// bytesConst returns a read-only 32-byte-aligned constant holding b.
func bytesConst(name string, b []byte) Mem {
	if m, ok := consts[name]; ok {
		return m
	}
	m := GLOBL(name, RODATA|NOPTR)
	for i := 0; i+8 <= len(b); i += 8 {
		var v uint64
		for j := 0; j < 8; j++ {
			v |= uint64(b[i+j]) << (8 * j)
		}
		DATA(i, U64(v))
	}
	consts[name] = m
	return m
}

// splat8 returns a 32-byte constant of byte v.
func splat8(name string, v byte) Mem {
	b := make([]byte, 32)
	for i := range b {
		b[i] = v
	}
	return bytesConst(name, b)
}

// splat16 returns a 32-byte constant of int16 v.
func splat16(name string, v uint16) Mem {
	b := make([]byte, 32)
	for i := 0; i < 32; i += 2 {
		b[i], b[i+1] = byte(v), byte(v>>8)
	}
	return bytesConst(name, b)
}

func ones16() Mem  { return splat16("ones16", 1) }
func mask4() Mem   { return splat8("mask0f", 0x0f) }
func mask3() Mem   { return splat8("mask03", 0x03) }
func eight8() Mem  { return splat8("eights", 8) }
func ones8() Mem   { return splat8("ones8", 1) }
func allOnes() Mem { return splat8("allones", 0xff) }
