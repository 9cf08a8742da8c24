// Command vexp generates the AVX2 kernels of ggml's vectorized exponential for package kernels:
// the softmax exponentials of flash attention (ggml_vec_soft_max_f32) and SwiGLU
// (ggml_vec_swiglu_f32), both built on ggml_v_expf (ggml/src/ggml-cpu/vec.h and vec.cpp of
// llama.cpp v0.5.0, MIT License), instruction for instruction.
//
//	cd runtime/kernels/_gen && go run ./vexp -out ../vexp_amd64.s -stubs ../vexp_amd64.go -pkg kernels
//
// (the go:generate line is in ../main.go, run from _gen, so that the command line avo records
// in the generated files' first line is the one above).
package main

import (
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

var consts = map[string]Mem{}

// splat returns a 32-byte read-only constant of eight copies of the 32-bit value v.
func splat(name string, v uint32) Mem {
	if m, ok := consts[name]; ok {
		return m
	}
	m := GLOBL(name, RODATA|NOPTR)
	for i := 0; i < 32; i += 4 {
		DATA(i, U32(v))
	}
	consts[name] = m
	return m
}

func f32c(name string, f float32) Mem { return splat(name, math.Float32bits(f)) }

// vexpf emits ggml_v_expf (AVX2/FMA) of x into a new register; the rare path for |n| > 126 is
// taken only when a lane needs it, as ggml branches on _mm256_movemask_ps.
func vexpf(x VecVirtual, id string) VecVirtual {
	r := YMM()
	VMOVUPS(f32c("vexp_r", 0x1.8p23), r)
	z := YMM()
	VMOVUPS(f32c("vexp_log2e", 0x1.715476p+0), z)
	VFMADD213PS(r, x, z) // z = x*log2e + r
	n := YMM()
	VSUBPS(r, z, n) // n = z - r
	b := YMM()
	VMOVUPS(f32c("vexp_ln2hi", 0x1.62e4p-1), b)
	VFNMADD213PS(x, n, b) // b = -(n*ln2hi) + x
	t := YMM()
	VMOVUPS(f32c("vexp_ln2lo", 0x1.7f7d1cp-20), t)
	VFNMADD213PS(b, n, t) // t = -(n*ln2lo) + b
	b = t
	e := YMM()
	VPSLLD(U8(23), z, e)
	k := YMM()
	VPADDD(f32c("vexp_one", 1), e, k)
	an := YMM()
	VANDPS(splat("vexp_abs", 0x7fffffff), n, an) // andnot(-0.f, n)
	c := YMM()
	VCMPPS(U8(0x1e), f32c("vexp_126", 126), an, c) // _CMP_GT_OQ: |n| > 126
	u := YMM()
	VMULPS(b, b, u)
	p1 := YMM()
	VMOVUPS(f32c("vexp_c4", 0x1.0e4020p-7), p1)
	VFMADD213PS(f32c("vexp_c3", 0x1.573e2ep-5), b, p1) // p1 = c4*b + c3
	p2 := YMM()
	VMOVUPS(f32c("vexp_c2", 0x1.555e66p-3), p2)
	VFMADD213PS(f32c("vexp_c1", 0x1.fffdb6p-2), b, p2) // p2 = c2*b + c1
	VFMADD213PS(p2, u, p1)                             // p1 = p1*u + p2
	j := YMM()
	VMULPS(f32c("vexp_c0", 0x1.ffffecp-1), b, j) // j = c0*b
	VFMADD213PS(j, u, p1)                        // j = p1*u + c0*b
	j = p1
	res := YMM()
	mask := GP32()
	VMOVMSKPS(c, mask)
	done := "vexp_done_" + id
	TESTL(mask, mask)
	VMOVAPS(k, res)
	VFMADD213PS(k, j, res) // res = j*k + k
	JZ(LabelRef(done))
	// rare path: scale in two steps to reach the float range ends (or saturate beyond |n| > 192)
	g := YMM()
	VXORPS(g, g, g)
	VCMPPS(U8(0x12), g, n, g) // _CMP_LE_OQ: n <= 0
	VANDPS(splat("vexp_g", 0x82000000), g, g)
	s1 := YMM()
	VPADDD(splat("vexp_7f", 0x7f000000), g, s1)
	s2 := YMM()
	VPSUBD(g, e, s2)
	d := YMM()
	VCMPPS(U8(0x1e), f32c("vexp_192", 192), an, d) // |n| > 192
	q := YMM()
	VMOVAPS(s2, q)
	VFMADD213PS(s2, j, q) // q = s2*j + s2
	VMULPS(s1, q, q)      // q *= s1
	// c ? q : fmadd(k, j, k)  (res holds fmadd(j, k, k), the same value)
	VBLENDVPS(c, q, res, res)
	ss := YMM()
	VMULPS(s1, s1, ss)
	VBLENDVPS(d, ss, res, res)
	Label(done)
	return res
}

func genSoftMax() {
	TEXT("softMaxExpAVX2", NOSPLIT, "func(y, x *float32, nb int, mx float32) float64")
	Pragma("noescape")
	Doc("softMaxExpAVX2 is the eight-value loop of ggml_vec_soft_max_f32: y = v_expf(x - mx) for nb",
		"blocks of eight, each block summed in float as AVX2's horizontal add does, the sums added in double.")
	y := Load(Param("y"), GP64())
	x := Load(Param("x"), GP64())
	nb := Load(Param("nb"), GP64())
	mxs := Load(Param("mx"), XMM())
	mx := YMM()
	VBROADCASTSS(mxs, mx)
	sum := XMM()
	VXORPD(sum, sum, sum)
	Label("sm_loop")
	CMPQ(nb, Imm(0))
	JE(LabelRef("sm_end"))
	v := YMM()
	VMOVUPS(Mem{Base: x}, v)
	VSUBPS(mx, v, v)
	val := vexpf(v, "sm")
	VMOVUPS(val, Mem{Base: y})
	hi := XMM()
	VEXTRACTF128(U8(1), val, hi)
	a := XMM()
	VADDPS(val.AsX(), hi, a)
	h := XMM()
	VMOVHLPS(a, a, h)
	VADDPS(h, a, a)
	VMOVSHDUP(a, h)
	VADDSS(h, a, a)
	dd := XMM()
	VCVTSS2SD(a, dd, dd)
	VADDSD(dd, sum, sum)
	ADDQ(Imm(32), x)
	ADDQ(Imm(32), y)
	DECQ(nb)
	JMP(LabelRef("sm_loop"))
	Label("sm_end")
	VZEROUPPER()
	Store(sum, ReturnIndex(0))
	RET()
}

func genSwiGLU() {
	TEXT("swigluAVX2", NOSPLIT, "func(y, x, gate *float32, nb int)")
	Pragma("noescape")
	Doc("swigluAVX2 is the eight-value loop of ggml_vec_swiglu_f32: y = x/(1+v_expf(-x)) * g (ggml_v_silu).")
	y := Load(Param("y"), GP64())
	x := Load(Param("x"), GP64())
	g := Load(Param("gate"), GP64())
	nb := Load(Param("nb"), GP64())
	Label("sw_loop")
	CMPQ(nb, Imm(0))
	JE(LabelRef("sw_end"))
	v := YMM()
	VMOVUPS(Mem{Base: x}, v)
	neg := YMM()
	VXORPS(neg, neg, neg)
	VSUBPS(v, neg, neg) // 0 - x
	ex := vexpf(neg, "sw")
	VADDPS(f32c("vexp_one", 1), ex, ex) // 1 + exp(-x)
	s := YMM()
	VDIVPS(ex, v, s) // x / (1 + exp(-x))
	VMULPS(Mem{Base: g}, s, s)
	VMOVUPS(s, Mem{Base: y})
	ADDQ(Imm(32), x)
	ADDQ(Imm(32), g)
	ADDQ(Imm(32), y)
	DECQ(nb)
	JMP(LabelRef("sw_loop"))
	Label("sw_end")
	VZEROUPPER()
	RET()
}

func main() {
	ConstraintExpr("!purego")
	genSoftMax()
	genSwiGLU()
	Generate()
}
