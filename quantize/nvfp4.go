package quantize

// NVFP4: blocks of 64 E2M1 values in 4 sub-blocks of 16, each with an unsigned E4M3 scale,
// x = ue4m3(d[s])/2 * kvalues_fp4[q].
// Reimplemented from quantize_row_nvfp4_ref and dequantize_row_nvfp4 in ggml/src/ggml-quants.c
// and ggml_fp32_to_ue4m3 / ggml_ue4m3_to_fp32 in ggml/src/ggml-impl.h (ggml, MIT license).

import (
	"math"

	"github.com/ggufy/ggufy/gguf"
)

const (
	qkNVFP4    = 64
	qkNVFP4Sub = 16
	blockNVFP4 = qkNVFP4/qkNVFP4Sub + qkNVFP4/2
)

func init() {
	register(gguf.TypeNVFP4, &codec{quantizeRow: quantizeRowNVFP4, dequantizeRow: dequantizeRowNVFP4})
}

// ue4m3Half holds ggml_ue4m3_to_fp32 (half the E4M3 value, matching the doubled grid) per byte.
var ue4m3Half = func() (t [256]float32) {
	for x := range t {
		if x == 0 || x == 0x7f {
			continue
		}
		exp, man := x>>3&0xf, x&7
		var raw float64
		if exp == 0 {
			raw = math.Ldexp(float64(man), -9)
		} else {
			raw = math.Ldexp(1+float64(float64(man)/8), exp-7)
		}
		t[x] = float32(raw) * 0.5
	}
	return t
}()

// toUE4M3 is ggml_fp32_to_ue4m3: round to the nearest unsigned E4M3 (ties up), saturating at 448.
func toUE4M3(x float32) uint8 {
	if !(x > 0) {
		return 0
	}
	if x > 448 {
		x = 448
	}
	bits := math.Float32bits(x)
	exp := int(bits>>23&0xff) - 127 + 7
	if exp <= 0 {
		man := cInt32(float32(x*512) + 0.5)
		if man > 7 {
			man = 7
		}
		if man < 1 {
			return 0
		}
		return uint8(man)
	}
	if exp >= 15 {
		return 0x7e
	}
	man := int(bits>>20&7) + int(bits>>19&1)
	if man > 7 {
		man = 0
		if exp++; exp >= 15 {
			return 0x7e
		}
	}
	return uint8(exp<<3 | man)
}

func quantizeRowNVFP4(dst []byte, src, _ []float32) {
	for ib := 0; ib < len(src)/qkNVFP4; ib++ {
		y := dst[ib*blockNVFP4 : (ib+1)*blockNVFP4]
		for s := 0; s < qkNVFP4/qkNVFP4Sub; s++ {
			xb := src[ib*qkNVFP4+s*qkNVFP4Sub : ib*qkNVFP4+(s+1)*qkNVFP4Sub]
			var amax float32
			for _, v := range xb {
				if av := absf(v); amax < av {
					amax = av
				}
			}
			ue := toUE4M3(amax / 6)
			y[s] = ue
			g := newFP4Grid(ue4m3Half[ue])
			qs := y[4+s*qkNVFP4Sub/2:]
			for j := 0; j < qkNVFP4Sub/2; j++ {
				qs[j] = bestIndexFP4(xb[j], &g) | bestIndexFP4(xb[qkNVFP4Sub/2+j], &g)<<4
			}
		}
	}
}

func dequantizeRowNVFP4(dst []float32, src []byte) {
	for ib := 0; ib < len(dst)/qkNVFP4; ib++ {
		x := src[ib*blockNVFP4 : (ib+1)*blockNVFP4]
		for s := 0; s < qkNVFP4/qkNVFP4Sub; s++ {
			d := ue4m3Half[x[s]]
			yb := dst[ib*qkNVFP4+s*qkNVFP4Sub:]
			qs := x[4+s*qkNVFP4Sub/2:]
			for j := 0; j < qkNVFP4Sub/2; j++ {
				yb[j] = float32(kvaluesFP4[qs[j]&0xf]) * d
				yb[j+qkNVFP4Sub/2] = float32(kvaluesFP4[qs[j]>>4]) * d
			}
		}
	}
}
