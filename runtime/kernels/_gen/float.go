package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// Kernels of the unquantized types, after ggml's ggml_vec_dot_f32/_f16/_bf16 on AVX2
// (ggml-cpu/vec.cpp and simd-mappings.h, MIT). nb counts steps of 32 values; the caller adds
// the tail.

// floatLoad loads eight values of a float format at m as float32 into a new YMM register.
type floatLoad func(m Mem) VecVirtual

func loadF32(m Mem) VecVirtual {
	y := YMM()
	VMOVUPS(m, y)
	return y
}

func loadF16(m Mem) VecVirtual {
	y := YMM()
	VCVTPH2PS(m, y)
	return y
}

func loadBF16(m Mem) VecVirtual {
	y := YMM()
	VPMOVZXWD(m, y)
	VPSLLD(U8(16), y, y)
	return y
}

func genFloat() {
	type ft struct {
		name  string
		size  int
		load  floatLoad
		hadd  bool // GGML_F32x8_REDUCE (f32, f16) rather than bf16's hsum
		memOK bool // the activation can be an FMA memory operand
	}
	for _, t := range []ft{
		{"F32", 4, loadF32, true, true},
		{"F16", 2, loadF16, true, false},
		{"BF16", 2, loadBF16, false, false},
	} {
		// one row: four accumulators, one per 8-value quarter of each 32-value step
		k := begin(kname(t.name, 1), 1, "dot product of "+t.name+" rows, nb steps of 32 values (ggml_vec_dot_"+lower(t.name)+")")
		sum := zeros(4)
		k.loop(32*t.size, 32*t.size, func() {
			for j := 0; j < 4; j++ {
				x := t.load(k.wt(8 * t.size * j))
				y := t.load(k.act(0, 8*t.size*j))
				VFMADD231PS(y, x, sum[j])
			}
		})
		var res VecVirtual
		if t.hadd {
			VADDPS(sum[2], sum[0], sum[0])
			VADDPS(sum[3], sum[1], sum[1])
			VADDPS(sum[1], sum[0], sum[0])
			r := XMM()
			VEXTRACTF128(U8(1), sum[0], r)
			VADDPS(r, sum[0].AsX(), r)
			VHADDPS(r, r, r)
			VHADDPS(r, r, r)
			res = r
		} else {
			VADDPS(sum[2], sum[0], sum[0])
			VADDPS(sum[3], sum[1], sum[1])
			VADDPS(sum[1], sum[0], sum[0])
			res = hsum8(sum[0])
		}
		k.end([]VecVirtual{res})

		// four columns: two accumulators per column, the weights converted once
		k = begin(kname(t.name, 4), 4, "four columns of "+t.name+", nb steps of 32 values")
		acc := zeros(8)
		k.loop(32*t.size, 32*t.size, func() {
			for j := 0; j < 4; j++ {
				x := t.load(k.wt(8 * t.size * j))
				for c := 0; c < 4; c++ {
					if t.memOK {
						VFMADD231PS(k.act(c, 8*t.size*j), x, acc[2*c+j%2])
					} else {
						y := t.load(k.act(c, 8*t.size*j))
						VFMADD231PS(y, x, acc[2*c+j%2])
					}
				}
			}
		})
		res4 := make([]VecVirtual, 4)
		for c := range res4 {
			VADDPS(acc[2*c+1], acc[2*c], acc[2*c])
			res4[c] = hsum8(acc[2*c])
		}
		k.end(res4)
	}
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
