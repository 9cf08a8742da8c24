package quantize

// Shared helpers of the block quantizers: ggml's scalar idioms (nearest_int, C's float->int
// conversion on x86-64, roundf, fp16 with ggml's NaN) and the scale searches of the k-quants
// (make_qx_quants, make_q3_quants, make_qkx2_quants, make_qkx3_quants, make_qp_quants,
// best_index_int8). Reimplemented from ggml/src/ggml-quants.c and ggml/src/ggml-impl.h
// (ggml, MIT license, Copyright (c) 2023-2024 The ggml authors).
//
// Bit-exactness rules followed throughout the package: every float32 expression is evaluated in
// the order C evaluates it; a product that feeds an addition is wrapped in float32(...) so that
// no Go compiler may fuse it into an FMA (ggml-base is built without FMA contraction); C's
// int<->float mixes are written as explicit conversions. The signatures here are stable: the
// i-quant files use them too.

import (
	"math"

	"github.com/ggufy/ggufy/internal/half"
)

// Thresholds below which ggml treats a group as all zero (GROUP_MAX_EPS*).
const (
	groupMaxEps               = 1e-15
	groupMaxEpsIQ3XXS         = 1e-8
	groupMaxEpsIQ2S           = 1e-8
	groupMaxEpsIQ1M           = 1e-7
	groupMaxEpsIQ1S           = 1e-12
	float32Max        float32 = math.MaxFloat32
)

// kvaluesIQ4NL is ggml's kvalues_iq4nl, the non-linear 4-bit grid of IQ4_NL and IQ4_XS.
var kvaluesIQ4NL = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

// kvaluesFP4 is ggml's kvalues_fp4 (E2M1 values doubled), the grid of MXFP4 and NVFP4.
var kvaluesFP4 = [16]int8{0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12}

// nearestInt is ggml's nearest_int: it rounds half to even by adding 1.5*2^23 and reading the
// mantissa. Like ggml it is meaningful for |f| <= 4194303 only, and returns the same value as
// ggml outside that range (NaN and Inf included).
func nearestInt(f float32) int {
	v := float32(f) + 12582912 // the conversion keeps an inlined caller's product from fusing
	return int(math.Float32bits(v)&0x007fffff) - 0x00400000
}

// roundf is C's roundf: round half away from zero, exact for every float32.
func roundf(f float32) float32 { return float32(math.Round(float64(f))) }

// roundInt32 is C's (int)roundf(f) on x86-64: round half away from zero, then cvttss2si
// (math.MinInt32 for NaN and out-of-range values). The truncated value's remainder v - t is
// exact, so adding the carry equals rounding first.
func roundInt32(f float32) int32 {
	i := cInt32(f)
	d := float32(f) - float32(i) // the conversion keeps an inlined caller's product from fusing
	carry := int32(b2i(d >= 0.5) - b2i(d <= -0.5))
	if i == math.MinInt32 { // NaN, out of range, or exactly -2^31: roundf changes nothing
		carry = 0
	}
	return i + carry
}

// b2i is 1 for true (compiled to SETcc, no branch).
func b2i(b bool) int {
	var i int
	if b {
		i = 1
	}
	return i
}

// lroundf is glibc's lroundf on x86-64: round half away from zero, math.MinInt64 for NaN and
// values out of range.
func lroundf(f float32) int64 {
	if f > -2147483648 && f < 2147483648 {
		return int64(roundInt32(f))
	}
	if f > -9223372036854775808 && f < 9223372036854775808 {
		return int64(f) // already an integer
	}
	return math.MinInt64
}

// sqrtf is C's sqrtf (correctly rounded; the float64 detour cannot double-round).
func sqrtf(f float32) float32 { return float32(math.Sqrt(float64(f))) }

// absf is fabsf.
func absf(f float32) float32 { return math.Float32frombits(math.Float32bits(f) &^ (1 << 31)) }

// f32ToF16 is ggml_compute_fp32_to_fp16 (GGML_FP32_TO_FP16): round to nearest even by float
// arithmetic; every NaN becomes 0x7e00 with its sign. It equals half.F32ToF16 on every non-NaN
// float32 (checked exhaustively) and is branch-free.
func f32ToF16(f float32) uint16 {
	const scaleToInf = 0x1.0p+112
	const scaleToZero = 0x1.0p-110
	base := float32(float32(absf(f)*scaleToInf) * scaleToZero)
	w := math.Float32bits(f)
	shl1 := w + w
	sign := w & 0x80000000
	bias := shl1 & 0xff000000
	if bias < 0x71000000 {
		bias = 0x71000000
	}
	base = math.Float32frombits(bias>>1+0x07800000) + base
	bits := math.Float32bits(base)
	nonsign := bits>>13&0x7c00 + bits&0x0fff
	if shl1 > 0xff000000 {
		nonsign = 0x7e00
	}
	return uint16(sign>>16 | nonsign)
}

// f16ToF32 is GGML_FP16_TO_FP32: exact, except that ggml's arithmetic conversion quiets
// signalling NaNs.
func f16ToF32(h uint16) float32 {
	f := half.F16ToF32(h)
	if h&0x7c00 == 0x7c00 && h&0x3ff != 0 {
		f = math.Float32frombits(math.Float32bits(f) | 0x00400000)
	}
	return f
}

// putF16 stores GGML_FP32_TO_FP16(f) little-endian at b[0:2].
func putF16(b []byte, f float32) {
	h := f32ToF16(f)
	b[0], b[1] = byte(h), byte(h>>8)
}

// getF16 reads a little-endian fp16 at b[0:2] as float32.
func getF16(b []byte) float32 { return f16ToF32(uint16(b[0]) | uint16(b[1])<<8) }

// roundF16 is GGML_FP16_TO_FP32(GGML_FP32_TO_FP16(f)).
func roundF16(f float32) float32 { return f16ToF32(f32ToF16(f)) }

// bestIndexInt8 is ggml's best_index_int8: the index of the value of the sorted grid val nearest
// to x (the upper one on a tie), by bisection.
func bestIndexInt8(val []int8, x float32) int {
	n := len(val)
	if x <= float32(val[0]) {
		return 0
	}
	if x >= float32(val[n-1]) {
		return n - 1
	}
	ml, mu := 0, n-1
	for mu-ml > 1 {
		mav := (ml + mu) / 2
		if x < float32(val[mav]) {
			mu = mav
		} else {
			ml = mav
		}
	}
	if x-float32(val[mu-1]) < float32(val[mu])-x {
		return mu - 1
	}
	return mu
}

// clampInt returns v limited to [lo, hi] the way ggml's MAX(lo, MIN(hi, v)) does.
func clampInt(v, lo, hi int) int {
	if v > hi {
		v = hi
	}
	if v < lo {
		v = lo
	}
	return v
}

// sumSquares is ggml's sum of x[i]*x[i], in order.
func sumSquares(x []float32) float32 {
	var s float32
	for _, v := range x {
		s += float32(v * v)
	}
	return s
}

// maxBlockScratch bounds the group sizes the searches below keep on the stack.
const maxBlockScratch = 32

// makeQxQuants is ggml's make_qx_quants: symmetric quantization of x to integers in
// [-nmax, nmax-1], stored in L offset by nmax; it returns the scale. rmseType selects the
// weighting when qw is nil (1: x², 2: 1, 3: |x|, else sqrt|x|); 0 rounds once without search;
// negative values return after the first weighted fit. The weights and w*x are computed once
// (the same float32 values ggml recomputes per candidate).
func makeQxQuants(x []float32, nmax int, L []int8, rmseType int, qw []float32) float32 {
	n := len(x)
	L = L[:n]
	var max, amax float32
	for _, v := range x {
		if ax := absf(v); ax > amax {
			amax, max = ax, v
		}
	}
	if amax < groupMaxEps {
		for i := range L {
			L[i] = 0
		}
		return 0
	}
	iscale := float32(-nmax) / max
	if rmseType == 0 {
		for i, v := range x {
			l := nearestInt(iscale * v)
			L[i] = int8(nmax + clampInt(l, -nmax, nmax-1))
		}
		return 1 / iscale
	}
	returnEarly := false
	if rmseType < 0 {
		rmseType = -rmseType
		returnEarly = true
	}
	var wbuf, wxbuf [maxBlockScratch]float32
	w, wx := wbuf[:], wxbuf[:]
	if n > len(wbuf) {
		w, wx = make([]float32, n), make([]float32, n)
	}
	w, wx = w[:n], wx[:n]
	for i, v := range x {
		switch {
		case qw != nil:
			w[i] = qw[i]
		case rmseType == 1:
			w[i] = v * v
		case rmseType == 2:
			w[i] = 1
		case rmseType == 3:
			w[i] = absf(v)
		default:
			w[i] = sqrtf(absf(v))
		}
		wx[i] = w[i] * v
	}
	var sumlx, suml2 float32
	for i, v := range x {
		l := clampInt(nearestInt(iscale*v), -nmax, nmax-1)
		L[i] = int8(l + nmax)
		fl := float32(l)
		sumlx += float32(wx[i] * fl)
		suml2 += float32(float32(w[i]*fl) * fl)
	}
	var scale float32
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	if returnEarly {
		if suml2 > 0 {
			return 0.5 * (scale + 1/iscale)
		}
		return 1 / iscale
	}
	best := scale * sumlx
	// The candidates iscale = -(nmax + 0.1*is)/max, is = -9..-1, 1..9, are independent: two are
	// summed per pass (more independent chains), then judged in ggml's order.
	lo, hi := -nmax, nmax-1
	for p := 0; p < len(qxSteps); p += 2 {
		isA := -(float32(nmax) + float32(0.1*float32(qxSteps[p]))) / max
		isB := -(float32(nmax) + float32(0.1*float32(qxSteps[p+1]))) / max
		var sxA, s2A, sxB, s2B float32
		for i, v := range x {
			la, lb := nearestInt(isA*v), nearestInt(isB*v)
			if la > hi {
				la = hi
			}
			if la < lo {
				la = lo
			}
			if lb > hi {
				lb = hi
			}
			if lb < lo {
				lb = lo
			}
			fa, fb := float32(la), float32(lb)
			wxi, wi := wx[i], w[i]
			sxA += float32(wxi * fa)
			s2A += float32(float32(wi*fa) * fa)
			sxB += float32(wxi * fb)
			s2B += float32(float32(wi*fb) * fb)
		}
		if s2A > 0 && sxA*sxA > best*s2A {
			for i, v := range x {
				L[i] = int8(nmax + clampInt(nearestInt(isA*v), lo, hi))
			}
			scale = sxA / s2A
			best = scale * sxA
		}
		if s2B > 0 && sxB*sxB > best*s2B {
			for i, v := range x {
				L[i] = int8(nmax + clampInt(nearestInt(isB*v), lo, hi))
			}
			scale = sxB / s2B
			best = scale * sxB
		}
	}
	return scale
}

// qxSteps are make_qx_quants' candidate offsets in the order it tries them.
var qxSteps = [18]int{-9, -8, -7, -6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6, 7, 8, 9}

// makeQ3Quants is ggml's make_q3_quants (used by Q3_K without an importance matrix): like
// makeQxQuants with x² weights, refined by up to five passes of coordinate descent when doRMSE.
func makeQ3Quants(x []float32, nmax int, L []int8, doRMSE bool) float32 {
	var max, amax float32
	for _, v := range x {
		if ax := absf(v); ax > amax {
			amax, max = ax, v
		}
	}
	if amax < groupMaxEps {
		for i := range L[:len(x)] {
			L[i] = 0
		}
		return 0
	}
	iscale := float32(-nmax) / max
	if !doRMSE {
		for i, v := range x {
			L[i] = int8(clampInt(nearestInt(iscale*v), -nmax, nmax-1) + nmax)
		}
		return 1 / iscale
	}
	var sumlx, suml2 float32
	for i, v := range x {
		l := clampInt(nearestInt(iscale*v), -nmax, nmax-1)
		L[i] = int8(l)
		w := v * v
		fl := float32(l)
		sumlx += float32(w * v * fl)
		suml2 += float32(w * fl * fl)
	}
	for itry := 0; itry < 5; itry++ {
		changed := false
		for i, v := range x {
			w := v * v
			li := float32(L[i])
			slx := sumlx - float32(w*v*li)
			if slx > 0 {
				sl2 := suml2 - float32(w*li*li)
				newL := clampInt(nearestInt(v*sl2/slx), -nmax, nmax-1)
				if newL != int(L[i]) {
					fn := float32(newL)
					slx += float32(w * v * fn)
					sl2 += float32(w * fn * fn)
					if sl2 > 0 && slx*slx*suml2 > sumlx*sumlx*sl2 {
						L[i] = int8(newL)
						sumlx, suml2 = slx, sl2
						changed = true
					}
				}
			}
		}
		if !changed {
			break
		}
	}
	for i := range x {
		L[i] += int8(nmax)
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}

// makeQkx2Quants is ggml's make_qkx2_quants: asymmetric quantization of x to [0, nmax] with a
// weighted least-squares search over nstep+1 candidate scales. It fills L (Laux is scratch of
// len(x)), stores the negated minimum in *theMin and returns the scale.
func makeQkx2Quants(x []float32, nmax int, weights []float32, L, Laux []uint8, theMin *float32,
	rmin, rdelta float32, nstep int, useMAD bool) float32 {
	return makeQkxQuants(x, nmax, weights, L, Laux, theMin, rmin, rdelta, nstep, useMAD)
}

// makeQkx3Quants is ggml's make_qkx3_quants, the variant of makeQkx2Quants used with importance
// weights (nil weights mean x²). It differs from make_qkx2_quants only in testing max <= min
// instead of max == min, which agree (max < min cannot happen).
func makeQkx3Quants(x []float32, nmax int, weights []float32, L, Laux []uint8, theMin *float32,
	rmin, rdelta float32, nstep int, useMAD bool) float32 {
	if weights == nil {
		var wbuf [maxBlockScratch]float32
		w := wbuf[:]
		if len(x) > len(wbuf) {
			w = make([]float32, len(x))
		}
		weights = w[:len(x)]
		for i, v := range x {
			weights[i] = v * v
		}
	}
	return makeQkxQuants(x, nmax, weights, L, Laux, theMin, rmin, rdelta, nstep, useMAD)
}

// makeQkxQuants is the shared body of make_qkx2_quants and make_qkx3_quants. x - min is kept
// in xm (recomputed when the minimum moves) instead of recomputed per candidate; every float32
// operation is otherwise ggml's, in ggml's order.
func makeQkxQuants(x []float32, nmax int, weights []float32, L, Laux []uint8, theMin *float32,
	rmin, rdelta float32, nstep int, useMAD bool) float32 {
	n := len(x)
	weights, L, Laux = weights[:n], L[:n], Laux[:n]
	min, max := x[0], x[0]
	sumW := weights[0]
	sumX := sumW * x[0]
	for i := 1; i < n; i++ {
		if x[i] < min {
			min = x[i]
		}
		if x[i] > max {
			max = x[i]
		}
		w := weights[i]
		sumW += w
		sumX += float32(w * x[i])
	}
	if min > 0 {
		min = 0
	}
	if max == min {
		for i := range L {
			L[i] = 0
		}
		*theMin = -min
		return 0
	}
	var xmbuf [maxBlockScratch]float32
	xm := xmbuf[:]
	if n > len(xmbuf) {
		xm = make([]float32, n)
	}
	xm = xm[:n]
	for i, v := range x {
		xm[i] = v - min
	}
	fnmax := float32(nmax)
	iscale := fnmax / (max - min)
	scale := 1 / iscale
	var bestError float32
	for i, v := range x {
		l := clampInt(nearestInt(iscale*xm[i]), 0, nmax)
		L[i] = uint8(l)
		diff := float32(scale*float32(l)) + min - v
		if useMAD {
			diff = absf(diff)
		} else {
			diff = diff * diff
		}
		bestError += float32(weights[i] * diff)
	}
	if nstep < 1 {
		*theMin = -min
		return scale
	}
	for is := 0; is <= nstep; is++ {
		iscale = (rmin + float32(rdelta*float32(is)) + fnmax) / (max - min)
		var sumL, sumL2, sumXL float32
		for i, m := range xm {
			l := nearestInt(iscale * m)
			if l > nmax {
				l = nmax
			}
			if l < 0 {
				l = 0
			}
			Laux[i] = uint8(l)
			fl := float32(l)
			wl := float32(weights[i] * fl)
			sumL += wl
			sumL2 += float32(wl * fl)
			sumXL += float32(wl * x[i])
		}
		D := float32(sumW*sumL2) - float32(sumL*sumL)
		if !(D > 0) {
			continue
		}
		thisScale := (float32(sumW*sumXL) - float32(sumX*sumL)) / D
		thisMin := (float32(sumL2*sumX) - float32(sumL*sumXL)) / D
		if thisMin > 0 {
			thisMin = 0
			thisScale = sumXL / sumL2
		}
		var curError float32
		if useMAD {
			for i, v := range x {
				curError += float32(weights[i] * absf(float32(thisScale*float32(Laux[i]))+thisMin-v))
			}
		} else {
			for i, v := range x {
				diff := float32(thisScale*float32(Laux[i])) + thisMin - v
				curError += float32(weights[i] * float32(diff*diff))
			}
		}
		if curError < bestError {
			copy(L, Laux)
			bestError = curError
			scale = thisScale
			min = thisMin
			for i, v := range x {
				xm[i] = v - min
			}
		}
	}
	*theMin = -min
	return scale
}

// makeQpQuants is ggml's make_qp_quants: quantizes the non-negative values x (block scales or
// mins) to [0, nmax] with importance weights qw; it fills L and returns the scale.
func makeQpQuants(x []float32, nmax int, L []uint8, qw []float32) float32 {
	var max float32
	for _, v := range x {
		if !(max > v) { // MAX(max, v)
			max = v
		}
	}
	if max < groupMaxEps {
		for i := range L[:len(x)] {
			L[i] = 0
		}
		return 0
	}
	fnmax := float32(nmax)
	iscale := fnmax / max
	for i, v := range x {
		L[i] = uint8(nearestInt(iscale * v))
	}
	scale := 1 / iscale
	var bestMSE float32
	for i, v := range x {
		diff := v - float32(scale*float32(L[i]))
		bestMSE += float32(qw[i] * diff * diff)
	}
	for is := -4; is <= 4; is++ {
		if is == 0 {
			continue
		}
		iscaleIs := (float32(0.1*float32(is)) + fnmax) / max
		scaleIs := 1 / iscaleIs
		var mse float32
		for i, v := range x {
			l := min(nmax, nearestInt(iscaleIs*v))
			diff := v - float32(scaleIs*float32(l))
			mse += float32(qw[i] * diff * diff)
		}
		if mse < bestMSE {
			bestMSE = mse
			iscale = iscaleIs
		}
	}
	var sumlx, suml2 float32
	for i, v := range x {
		l := min(nmax, nearestInt(iscale*v))
		L[i] = uint8(l)
		fl := float32(l)
		sumlx += float32(qw[i] * v * fl)
		suml2 += float32(qw[i] * fl * fl)
	}
	for itry := 0; itry < 5; itry++ {
		changed := false
		for i, v := range x {
			w := qw[i]
			li := float32(L[i])
			slx := sumlx - float32(w*v*li)
			sl2 := suml2 - float32(w*li*li)
			if slx > 0 && sl2 > 0 {
				newL := min(nmax, nearestInt(v*sl2/slx))
				if newL != int(L[i]) {
					fn := float32(newL)
					slx += float32(w * v * fn)
					sl2 += float32(w * fn * fn)
					if slx*slx*suml2 > sumlx*sumlx*sl2 {
						L[i] = uint8(newL)
						sumlx, suml2 = slx, sl2
						changed = true
					}
				}
			}
		}
		if !changed {
			break
		}
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}
