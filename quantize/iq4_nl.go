package quantize

// IQ4_NL: blocks of 32 values, fp16 scale d and 4-bit indices into the non-linear grid
// kvalues_iq4nl, x = d*grid[q]. The search (quantizeIQ4Impl) is shared with IQ4_XS.
// Reimplemented from quantize_row_iq4_nl_impl, quantize_iq4_nl and dequantize_row_iq4_nl in
// ggml/src/ggml-quants.c (ggml, MIT license).

import (
	"encoding/binary"

	"github.com/ggufy/ggufy/gguf"
)

const (
	qk4NL      = 32
	blockIQ4NL = 2 + qk4NL/2
	iq4NTry    = 7 // ggml_quantize_chunk always searches ±7 steps
)

func init() {
	register(gguf.TypeIQ4_NL, &codec{quantizeRow: quantizeRowIQ4NL, dequantizeRow: dequantizeRowIQ4NL})
}

// kvaluesIQ4NLf is kvaluesIQ4NL as float32.
var kvaluesIQ4NLf = func() (v [16]float32) {
	for i, k := range kvaluesIQ4NL {
		v[i] = float32(k)
	}
	return v
}()

// bestIndexIQ4 is bestIndexInt8(kvaluesIQ4NL[:], x) without branches: a four-step bisection
// finds the largest grid value <= x (the interval ggml's bisection ends in), then the nearer of
// the two neighbours, the upper one on a tie, exactly as ggml compares them.
func bestIndexIQ4(x float32) int {
	v := &kvaluesIQ4NLf
	if x != x {
		return 15 // where ggml's bisection ends for NaN
	}
	b := 8 * b2i(v[8] <= x)
	b += 4 * b2i(v[b+4] <= x)
	b += 2 * b2i(v[b+2] <= x)
	b += b2i(v[b+1] <= x)
	b = min(b, 14)
	return b + 1 - b2i(x-v[b] < v[b+1]-x)
}

// quantizeIQ4Impl is ggml's quantize_row_iq4_nl_impl for one super-block x of 32 (IQ4_NL) or 256
// (IQ4_XS) values in groups of 32: it writes the fp16 scale to dh, the packed indices to q4 and,
// for 256, the 6-bit group scales to scalesH (2 bytes) and scalesL (4 bytes). qw may be nil.
func quantizeIQ4Impl(x, qw []float32, dh, q4, scalesH, scalesL []byte, ntry int) {
	const blockSize = 32
	values := kvaluesIQ4NL[:]
	superBlock := len(x)
	nb := superBlock / blockSize
	var L [qkK]uint8
	var scales [qkK / blockSize]float32
	var weight [blockSize]float32

	sigma2 := float32(sumSquares(x) * (2 / float32(superBlock)))

	clear(q4[:superBlock/2])
	putF16(dh, 0)

	var maxScale, amaxScale float32
	for ib := 0; ib < nb; ib++ {
		xb := x[ib*blockSize : (ib+1)*blockSize]
		Lb := L[ib*blockSize : (ib+1)*blockSize]
		if qw != nil {
			qwb := qw[ib*blockSize : (ib+1)*blockSize]
			for j, v := range xb {
				weight[j] = qwb[j] * sqrtf(sigma2+float32(v*v))
			}
		} else {
			for j, v := range xb {
				weight[j] = v * v
			}
		}
		var amax, max float32
		for _, v := range xb {
			if ax := absf(v); ax > amax {
				amax, max = ax, v
			}
		}
		if amax < groupMaxEps {
			scales[ib] = 0
			continue
		}
		var d float32
		if ntry > 0 {
			d = -max / float32(values[0])
		} else {
			d = max / float32(values[0])
		}
		id := 1 / d
		var sumqx, sumq2 float32
		for j, v := range xb {
			l := bestIndexIQ4(id * v)
			Lb[j] = uint8(l)
			q := kvaluesIQ4NLf[l]
			w := weight[j]
			sumqx += float32(w * q * v)
			sumq2 += float32(w * q * q)
		}
		d = 0
		if sumq2 > 0 {
			d = sumqx / sumq2
		}
		best := d * sumqx
		for itry := -ntry; itry <= ntry; itry++ {
			id = float32(itry+int(values[0])) / max
			sumqx, sumq2 = 0, 0
			for j, v := range xb {
				q := kvaluesIQ4NLf[bestIndexIQ4(id*v)]
				w := weight[j]
				sumqx += float32(w * q * v)
				sumq2 += float32(w * q * q)
			}
			if sumq2 > 0 && sumqx*sumqx > best*sumq2 {
				d = sumqx / sumq2
				best = d * sumqx
			}
		}
		scales[ib] = d
		if ad := absf(d); ad > amaxScale {
			amaxScale, maxScale = ad, d
		}
	}

	if nb > 1 {
		var sh uint16
		d := -maxScale / 32
		putF16(dh, d)
		var id float32
		if d != 0 {
			id = 1 / d
		}
		for ib := 0; ib < nb; ib++ {
			l := clampInt(nearestInt(id*scales[ib]), -32, 31)
			dl := d * float32(l)
			var idl float32
			if dl != 0 {
				idl = 1 / dl
			}
			xb := x[ib*blockSize : (ib+1)*blockSize]
			Lb := L[ib*blockSize : (ib+1)*blockSize]
			for j, v := range xb {
				Lb[j] = uint8(bestIndexIQ4(idl * v))
			}
			l += 32
			lLow, lHigh := uint8(l&0xf), uint16(l>>4)
			if ib%2 == 0 {
				scalesL[ib/2] = lLow
			} else {
				scalesL[ib/2] |= lLow << 4
			}
			sh |= lHigh << (2 * (ib % 8))
		}
		binary.LittleEndian.PutUint16(scalesH, sh)
	} else {
		putF16(dh, scales[0])
		if ntry > 0 {
			var id float32
			if scales[0] != 0 {
				id = 1 / scales[0]
			}
			for j, v := range x {
				L[j] = uint8(bestIndexIQ4(id * v))
			}
		}
	}

	for i := 0; i < superBlock/32; i++ {
		for j := 0; j < 16; j++ {
			q4[16*i+j] = L[32*i+j] | L[32*i+16+j]<<4
		}
	}
}

func quantizeRowIQ4NL(dst []byte, src, imatrix []float32) {
	for ib := 0; ib < len(src)/qk4NL; ib++ {
		y := dst[ib*blockIQ4NL : (ib+1)*blockIQ4NL]
		var qw []float32
		if imatrix != nil {
			qw = imatrix[ib*qk4NL : (ib+1)*qk4NL]
		}
		quantizeIQ4Impl(src[ib*qk4NL:(ib+1)*qk4NL], qw, y[:2], y[2:], nil, nil, iq4NTry)
	}
}

func dequantizeRowIQ4NL(dst []float32, src []byte) {
	for ib := 0; ib < len(dst)/qk4NL; ib++ {
		x := src[ib*blockIQ4NL : (ib+1)*blockIQ4NL]
		y := dst[ib*qk4NL : (ib+1)*qk4NL]
		d := getF16(x)
		for j := 0; j < qk4NL/2; j++ {
			q := x[2+j]
			y[j] = d * float32(kvaluesIQ4NL[q&0xf])
			y[j+qk4NL/2] = d * float32(kvaluesIQ4NL[q>>4])
		}
	}
}
