// Package pplstat holds the statistics of llama-perplexity (tools/perplexity/perplexity.cpp of
// llama.cpp v0.5.0, MIT License): log_softmax, the perplexity estimate, and kl_divergence()'s
// sums, mean_and_uncertainty, covariance and percentile, in double precision. The runtime's
// Perplexity and KLDivergence apply them to its logits, the llama.cpp harness (internal/llamacpp)
// to llama.cpp's. The harness's results are checked against llama-perplexity's own output (its
// testdata/oracle_*.json), so what the runtime's comparison with the harness measures is the
// logits, on statistics that are llama.cpp's.
package pplstat

import "math"

// expf is C's expf: exp in double, rounded once to float.
func expf(x float32) float32 { return float32(math.Exp(float64(x))) }

// LogSoftmaxAt is perplexity.cpp's log_softmax(n_vocab, logits, tok): the maximum in float, expf
// in float, the sum in double, (logit[tok] - max) in float minus the double log.
func LogSoftmaxAt(row []float32, tok int32) float64 {
	mx := row[0]
	for _, v := range row[1:] {
		mx = max(mx, v)
	}
	var sum float64
	for _, v := range row {
		sum += float64(expf(v - mx))
	}
	return float64(row[tok]-mx) - math.Log(sum)
}

// PPL is perplexity()'s final estimate from the sum and the sum of squares of count negative
// log-likelihoods: their mean (ln PPL), PPL, and its uncertainty (NaN when the variance comes out
// negative or zero).
func PPL(sum, sum2 float64, count int) (meanNLL, ppl, err float64) {
	c := float64(count)
	meanNLL = sum / c
	ppl = math.Exp(meanNLL)
	err = math.NaN()
	if v := sum2/c - meanNLL*meanNLL; v > 0 {
		err = math.Sqrt(v/(c-1)) * ppl
	}
	return meanNLL, ppl, err
}

// LogSoftmax64 writes the double-precision log-softmax of row to dst.
func LogSoftmax64(row []float32, dst []float64) {
	mx := float64(row[0])
	for _, v := range row[1:] {
		mx = max(mx, float64(v))
	}
	var sum float64
	for i, v := range row {
		z := float64(v) - mx
		dst[i] = z
		sum += math.Exp(z)
	}
	lse := math.Log(sum)
	for i := range dst {
		dst[i] -= lse
	}
}

// Argmax returns the index of the first largest value.
func Argmax(row []float32) int {
	best := 0
	for i, v := range row {
		if v > row[best] {
			best = i
		}
	}
	return best
}

// Position is one scored position of a KL-divergence run.
type Position struct {
	NLL, NLLBase float64 // -ln p(target) under the test and the base model
	KLD          float64 // KL(base || test) of the two distributions
	PDiff        float64 // p_test(target) - p_base(target)
	Same         bool    // both models rank the same token first
}

// Compare compares the test model's logits at one position with the base model's, target tok,
// in double precision from the float32 logits; lb and lt are scratch rows of the vocabulary's
// size.
func Compare(base, test []float32, tok int32, lb, lt []float64) Position {
	LogSoftmax64(base, lb)
	LogSoftmax64(test, lt)
	var kld float64
	for i, x := range lb {
		kld += float64(math.Exp(x) * (x - lt[i]))
	}
	nllb, nll := -lb[tok], -lt[tok]
	return Position{NLL: nll, NLLBase: nllb, KLD: kld, PDiff: math.Exp(-nll) - math.Exp(-nllb), Same: Argmax(base) == Argmax(test)}
}

// Sums are kl_divergence_result's running sums.
type Sums struct {
	NLL, NLL2, NLLBase, NLLBase2, NLLNLLBase float64
	KLD, KLD2                                float64
	PDiff, PDiff2, PDiff4                    float64
	Same, Count                              int
}

// Add adds one position in double precision (every product rounded before it is summed).
func (s *Sums) Add(p Position) {
	s.NLL += p.NLL
	s.NLL2 += float64(p.NLL * p.NLL)
	s.NLLBase += p.NLLBase
	s.NLLBase2 += float64(p.NLLBase * p.NLLBase)
	s.NLLNLLBase += float64(p.NLL * p.NLLBase)
	s.KLD += p.KLD
	s.KLD2 += float64(p.KLD * p.KLD)
	s.PDiff += p.PDiff
	pd2 := float64(p.PDiff * p.PDiff)
	s.PDiff2 += pd2
	s.PDiff4 += float64(pd2 * pd2)
	if p.Same {
		s.Same++
	}
	s.Count++
}

// Summary are the statistics kl_divergence() prints that come from the sums (the percentiles
// come from the sorted values). Top1 and the Δp values are in percent.
type Summary struct {
	PPLTest, PPLTestErr float64
	PPLBase, PPLBaseErr float64
	Cov                 float64 // covariance of the two ln PPL estimates
	CorLnPPL            float64 // correlation of the per-token ln PPL of both models (NaN if undefined)
	LnPPLRatio          float64 // mean ln(PPL(test)/PPL(base))
	LnPPLRatioErr       float64
	PPLRatio            float64 // PPL(test)/PPL(base)
	PPLRatioErr         float64

	KLDMean, KLDErr float64
	Top1, Top1Err   float64 // % of positions where both models rank the same token first

	DeltaPMean, DeltaPMeanErr float64
	DeltaPRMS, DeltaPRMSErr   float64
}

// Summary computes the statistics of the sums; s.Count must be positive.
func (s *Sums) Summary() Summary {
	count := s.Count
	lp, lpU := MeanUnc(s.NLL, s.NLL2, count)
	lb, lbU := MeanUnc(s.NLLBase, s.NLLBase2, count)
	var r Summary
	r.Cov = Covariance(s.NLL, s.NLLBase, s.NLLNLLBase, count)
	r.PPLTest, r.PPLBase = math.Exp(lp), math.Exp(lb)
	r.PPLTestErr, r.PPLBaseErr = r.PPLTest*lpU, r.PPLBase*lbU
	r.CorLnPPL = math.NaN()
	if lpU > 0 && lbU > 0 {
		r.CorLnPPL = r.Cov / (lpU * lbU)
	}
	r.LnPPLRatio = lp - lb
	r.LnPPLRatioErr = math.Sqrt(max(0, lpU*lpU+lbU*lbU-2*r.Cov))
	r.PPLRatio = math.Exp(r.LnPPLRatio)
	r.PPLRatioErr = r.PPLRatio * r.LnPPLRatioErr
	r.KLDMean, r.KLDErr = MeanUnc(s.KLD, s.KLD2, count)
	top := float64(s.Same) / float64(count)
	r.Top1 = 100 * top
	if count > 1 {
		r.Top1Err = 100 * math.Sqrt(top*(1-top)/float64(count-1))
	}
	mpd, mpdU := MeanUnc(s.PDiff, s.PDiff2, count)
	r.DeltaPMean, r.DeltaPMeanErr = 100*mpd, 100*mpdU
	mse, mseU := MeanUnc(s.PDiff2, s.PDiff4, count)
	rms := math.Sqrt(mse)
	r.DeltaPRMS = 100 * rms
	if rms > 0 {
		r.DeltaPRMSErr = 100 * 0.5 / rms * mseU
	}
	return r
}

// MeanUnc is kl_divergence()'s mean_and_uncertainty: the mean of count values from their sum
// and sum of squares, and its uncertainty (0 for ten values or fewer).
func MeanUnc(sum, sum2 float64, count int) (mean, unc float64) {
	if count < 1 {
		return 0, 0
	}
	c := float64(count)
	f := sum / c
	df := sum2/c - f*f
	if df > 0 && count > 10 {
		return f, math.Sqrt(df / (c - 1))
	}
	return f, 0
}

// Covariance is kl_divergence()'s covariance of the means of a and b (0 under ten values).
func Covariance(a, b, ab float64, count int) float64 {
	if count < 10 {
		return 0
	}
	c := float64(count)
	return (ab/c - (a/c)*(b/c)) / (c - 1)
}

// Percentile is kl_divergence()'s percentile of sorted values: the position fraction*(n-1)
// computed in float, linear interpolation between its neighbours in T (float as llama-perplexity
// computes it, or double). Each product is rounded to T before the sum, so no fused multiply-add
// changes the result.
func Percentile[T float32 | float64](sorted []T, fraction float32) T {
	if fraction <= 0 {
		return sorted[0]
	}
	if fraction >= 1 {
		return sorted[len(sorted)-1]
	}
	p := fraction * float32(len(sorted)-1)
	ip := int(p)
	f := T(p - float32(ip))
	return T((1-f)*sorted[ip]) + T(f*sorted[min(ip+1, len(sorted)-1)])
}

// Median is the median of sorted values (the mean of the middle two for an even count).
func Median[T float32 | float64](sorted []T) T {
	n := len(sorted)
	if n%2 == 0 {
		return 0.5 * (sorted[n/2] + sorted[n/2-1])
	}
	return sorted[n/2]
}
