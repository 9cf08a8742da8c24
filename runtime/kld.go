package runtime

import (
	"context"
	"fmt"
	"math"
	"slices"
)

// KL divergence as llama-perplexity --kl-divergence reports it (tools/perplexity/perplexity.cpp
// of llama.cpp v0.5.0, MIT License, kl_divergence(): mean_and_uncertainty, covariance,
// percentile). Both models are evaluated in lockstep on the base model's tokens, chunk by chunk,
// and every scored position compares the two full distributions. The log-probabilities are taken
// in double precision from the float32 logits (llama-perplexity stores the base model's as 16-bit
// values in its logits file, which adds small noise; here a model compared with itself gives
// exactly 0).

// KLDResult are the statistics of KLDivergence. Percentages are in percent.
type KLDResult struct {
	Positions int
	Chunks    int
	Ctx       int

	PPLBase, PPLBaseErr float64
	PPLTest, PPLTestErr float64
	LnPPLRatio          float64 // mean ln(PPL(test)/PPL(base))
	LnPPLRatioErr       float64
	PPLRatio            float64 // PPL(test)/PPL(base)
	PPLRatioErr         float64
	CorLnPPL            float64 // correlation of the per-token ln PPL of both models (NaN if undefined)

	KLDMean, KLDErr                         float64
	KLDMax, KLDP999, KLDP99, KLDP95, KLDP90 float64
	KLDMedian, KLDP10, KLDP5, KLDP1, KLDMin float64

	Top1, Top1Err float64 // % of positions where both models rank the same token first

	DeltaPMean, DeltaPMeanErr float64 // Δp = p_test(token) - p_base(token), in %
	DeltaPRMS, DeltaPRMSErr   float64
	DeltaPMax, DeltaPP99      float64
	DeltaPMedian              float64
	DeltaPP1, DeltaPMin       float64

	// TestTokenizationIdentical says whether the test model tokenizes the text like the base.
	TestTokenizationIdentical bool
	// KLD holds every scored position's divergence, chunk by chunk.
	KLD []float64
}

// kldPos is one scored position.
type kldPos struct {
	nll, nllBase, kld, pDiff float64
	same                     bool
}

// logSoftmax64 writes the double-precision log-softmax of row to dst.
func logSoftmax64(row []float32, dst []float64) {
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

func argmax(row []float32) int {
	best := 0
	for i, v := range row {
		if v > row[best] {
			best = i
		}
	}
	return best
}

// KLDivergence compares test against base over text (llama-perplexity --kl-divergence with
// --kl-divergence-base computed from base in the same run). progress, if not nil, is called after
// every chunk with the running mean KLD.
func KLDivergence(ctx context.Context, base, test *Model, text string, progress func(done, total int, kld float64), opts ...Option) (*KLDResult, error) {
	o := NewOptions(opts...)
	if base.NVocab() != test.NVocab() {
		return nil, fmt.Errorf("runtime: inconsistent vocabularies: base has %d tokens, test %d", base.NVocab(), test.NVocab())
	}
	toks, nChunk, err := chunkTokens(base, text, o)
	if err != nil {
		return nil, err
	}
	ttoks, _, _ := chunkTokens(test, text, o)
	sb, err := base.newSession(o)
	if err != nil {
		return nil, err
	}
	defer sb.Close()
	st, err := test.newSession(o)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	rb, rt := newChunkRunner(sb, toks), newChunkRunner(st, toks)
	// the test model runs with the base model's BOS, as llama-perplexity evaluates both on the
	// base tokens
	rt.addBOS, rt.bos = rb.addBOS, rb.bos
	nv := base.NVocab()
	per := len(rb.outs)
	baseRows := make([]float32, per*nv)
	lb, lt := make([]float64, nv), make([]float64, nv)
	var acc []kldPos
	res := &KLDResult{Chunks: nChunk, Ctx: o.Ctx, TestTokenizationIdentical: slices.Equal(toks, ttoks)}
	var sumKLD float64
	for i := range nChunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := rb.run(i, func(j int, logits []float32, _ int32) error {
			copy(baseRows[j*nv:(j+1)*nv], logits)
			return nil
		}); err != nil {
			return nil, err
		}
		if err := rt.run(i, func(j int, logits []float32, tok int32) error {
			b := baseRows[j*nv : (j+1)*nv]
			logSoftmax64(b, lb)
			logSoftmax64(logits, lt)
			var kld float64
			for k, x := range lb {
				kld += math.Exp(x) * (x - lt[k])
			}
			nllb, nll := -lb[tok], -lt[tok]
			p := kldPos{nll: nll, nllBase: nllb, kld: kld, pDiff: math.Exp(-nll) - math.Exp(-nllb), same: argmax(b) == argmax(logits)}
			acc = append(acc, p)
			sumKLD += kld
			return nil
		}); err != nil {
			return nil, err
		}
		if progress != nil {
			progress(i+1, nChunk, sumKLD/float64(len(acc)))
		}
	}
	res.report(acc)
	return res, nil
}

// meanUnc is kl_divergence()'s mean_and_uncertainty.
func meanUnc(sum, sum2 float64, count int) (float64, float64) {
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

// percentile is kl_divergence()'s percentile over sorted values (fraction*(n-1) in float,
// linear interpolation).
func percentile(v []float64, fraction float32) float64 {
	if fraction <= 0 {
		return v[0]
	}
	if fraction >= 1 {
		return v[len(v)-1]
	}
	p := fraction * float32(len(v)-1)
	ip := int(p)
	f := float64(p - float32(ip))
	return (1-f)*v[ip] + f*v[min(ip+1, len(v)-1)]
}

func median(v []float64) float64 {
	n := len(v)
	if n%2 == 0 {
		return 0.5 * (v[n/2] + v[n/2-1])
	}
	return v[n/2]
}

func (r *KLDResult) report(ps []kldPos) {
	count := len(ps)
	r.Positions = count
	if count == 0 {
		return
	}
	var sNLL, sNLL2, sNLLB, sNLLB2, sNLLNLLB, sKLD, sKLD2, sPD, sPD2, sPD4 float64
	same := 0
	klds := make([]float64, count)
	pds := make([]float64, count)
	for i, p := range ps {
		sNLL += p.nll
		sNLL2 += p.nll * p.nll
		sNLLB += p.nllBase
		sNLLB2 += p.nllBase * p.nllBase
		sNLLNLLB += p.nll * p.nllBase
		sKLD += p.kld
		sKLD2 += p.kld * p.kld
		sPD += p.pDiff
		pd2 := p.pDiff * p.pDiff
		sPD2 += pd2
		sPD4 += pd2 * pd2
		if p.same {
			same++
		}
		klds[i] = p.kld
		pds[i] = p.pDiff
	}
	r.KLD = slices.Clone(klds)
	slices.Sort(klds)
	slices.Sort(pds)
	c := float64(count)
	lp, lpU := meanUnc(sNLL, sNLL2, count)
	lb, lbU := meanUnc(sNLLB, sNLLB2, count)
	cov := 0.0
	if count >= 10 {
		cov = (sNLLNLLB/c - (sNLL/c)*(sNLLB/c)) / (c - 1)
	}
	r.PPLTest, r.PPLBase = math.Exp(lp), math.Exp(lb)
	r.PPLTestErr, r.PPLBaseErr = r.PPLTest*lpU, r.PPLBase*lbU
	r.CorLnPPL = math.NaN()
	if lpU > 0 && lbU > 0 {
		r.CorLnPPL = cov / (lpU * lbU)
	}
	r.LnPPLRatio = lp - lb
	r.LnPPLRatioErr = math.Sqrt(max(0, lpU*lpU+lbU*lbU-2*cov))
	r.PPLRatio = math.Exp(r.LnPPLRatio)
	r.PPLRatioErr = r.PPLRatio * r.LnPPLRatioErr
	r.KLDMean, r.KLDErr = meanUnc(sKLD, sKLD2, count)
	r.KLDMax, r.KLDP999, r.KLDP99 = percentile(klds, 1), percentile(klds, 0.999), percentile(klds, 0.99)
	r.KLDP95, r.KLDP90, r.KLDMedian = percentile(klds, 0.95), percentile(klds, 0.90), median(klds)
	r.KLDP10, r.KLDP5, r.KLDP1, r.KLDMin = percentile(klds, 0.10), percentile(klds, 0.05), percentile(klds, 0.01), percentile(klds, 0)
	top := float64(same) / c
	r.Top1 = 100 * top
	if count > 1 {
		r.Top1Err = 100 * math.Sqrt(top*(1-top)/(c-1))
	}
	mpd, mpdU := meanUnc(sPD, sPD2, count)
	r.DeltaPMean, r.DeltaPMeanErr = 100*mpd, 100*mpdU
	mse, mseU := meanUnc(sPD2, sPD4, count)
	rms := math.Sqrt(mse)
	r.DeltaPRMS = 100 * rms
	if rms > 0 {
		r.DeltaPRMSErr = 100 * 0.5 / rms * mseU
	}
	r.DeltaPMax, r.DeltaPP99, r.DeltaPMedian = 100*percentile(pds, 1), 100*percentile(pds, 0.99), 100*median(pds)
	r.DeltaPP1, r.DeltaPMin = 100*percentile(pds, 0.01), 100*percentile(pds, 0)
}
