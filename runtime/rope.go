package runtime

import "math"

// rope is one ggml_rope_ext call's parameters, prepared once: rotary position embeddings as
// ggml-cpu computes them (ggml/src/ggml-cpu/ops.cpp ggml_compute_forward_rope_flt,
// ggml_rope_cache_init, rope_yarn, and ggml.c ggml_rope_yarn_corr_dims; llama.cpp v0.5.0, MIT).
// Theta is advanced by repeated float multiplication and cos/sin are taken in float, as there.
type rope struct {
	nDims       int
	mode        int
	freqScale   float32
	extFactor   float32
	attnFactor  float32
	thetaScale  float32
	corrDims    [2]float32
	freqFactors []float32 // nil: all 1
}

func newRope(nDims, mode, nCtxOrig int, freqBase, freqScale, extFactor, attnFactor, betaFast, betaSlow float32, freqFactors []float32) rope {
	r := rope{nDims: nDims, mode: mode, freqScale: freqScale, extFactor: extFactor, attnFactor: attnFactor, freqFactors: freqFactors}
	if nDims > 0 {
		r.thetaScale = powf(freqBase, -2.0/float32(nDims))
	}
	r.corrDims = yarnCorrDims(nDims, nCtxOrig, freqBase, betaFast, betaSlow)
	return r
}

func powf(x, y float32) float32 { return float32(math.Pow(float64(x), float64(y))) }
func cosf(x float32) float32    { return float32(math.Cos(float64(x))) }
func sinf(x float32) float32    { return float32(math.Sin(float64(x))) }
func sqrtf(x float32) float32   { return float32(math.Sqrt(float64(x))) }
func tanhf(x float32) float32   { return float32(math.Tanh(float64(x))) }

// yarnCorrDim is ggml_rope_yarn_corr_dim, in float.
func yarnCorrDim(nDims, nCtxOrig int, nRot, base float32) float32 {
	a := float32(nCtxOrig) / (nRot * 2 * float32(math.Pi))
	return float32(nDims) * logf(a) / (2 * logf(base))
}

// yarnCorrDims is ggml_rope_yarn_corr_dims: the start and end dimensions of YaRN's ramp.
func yarnCorrDims(nDims, nCtxOrig int, freqBase, betaFast, betaSlow float32) [2]float32 {
	start := float32(math.Floor(float64(yarnCorrDim(nDims, nCtxOrig, betaFast, freqBase))))
	end := float32(math.Ceil(float64(yarnCorrDim(nDims, nCtxOrig, betaSlow, freqBase))))
	return [2]float32{max(0, start), min(float32(nDims-1), end)}
}

// yarnRamp is rope_yarn_ramp (i0/2 is an integer division).
func yarnRamp(low, high float32, i0 int) float32 {
	y := (float32(i0/2) - low) / max(0.001, high-low)
	return 1 - min(1, max(0, y))
}

// fill writes the cos/sin cache of position p for a row of ne0 values (ggml_rope_cache_init
// with rope_yarn): cache[i0] = cos, cache[i0+1] = sin of pair i0/2.
func (r *rope) fill(cache []float32, p int32, ne0 int) {
	theta := float32(p)
	for i0 := 0; i0+1 < ne0; i0 += 2 {
		ff := float32(1)
		if r.freqFactors != nil && i0/2 < len(r.freqFactors) {
			ff = r.freqFactors[i0/2]
		}
		thetaExtrap := theta / ff
		thetaInterp := r.freqScale * thetaExtrap
		th := thetaInterp
		mscale := r.attnFactor
		if r.extFactor != 0 {
			rampMix := yarnRamp(r.corrDims[0], r.corrDims[1], i0) * r.extFactor
			th = float32(thetaInterp*(1-rampMix)) + float32(thetaExtrap*rampMix)
			mscale *= 1 + 0.1*logf(1/r.freqScale)
		}
		cache[i0] = cosf(th) * mscale
		cache[i0+1] = sinf(th) * mscale
		theta *= r.thetaScale
	}
}

// apply rotates nHeads heads of ne0 values each (x holds them back to back) with a cache from
// fill; values past nDims are left as they are.
func (r *rope) apply(x []float32, nHeads, ne0 int, cache []float32) {
	n := r.nDims
	for h := range nHeads {
		row := x[h*ne0 : (h+1)*ne0]
		switch r.mode {
		case ropeNorm:
			for i0 := 0; i0 < n; i0 += 2 {
				c, s := cache[i0], cache[i0+1]
				x0, x1 := row[i0], row[i0+1]
				row[i0] = float32(x0*c) - float32(x1*s)
				row[i0+1] = float32(x0*s) + float32(x1*c)
			}
		case ropeNeox:
			half := n / 2
			for i0 := 0; i0 < n; i0 += 2 {
				c, s := cache[i0], cache[i0+1]
				ic := i0 / 2
				x0, x1 := row[ic], row[ic+half]
				row[ic] = float32(x0*c) - float32(x1*s)
				row[ic+half] = float32(x0*s) + float32(x1*c)
			}
		}
	}
}
