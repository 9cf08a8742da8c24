package runtime

import (
	"context"
	"fmt"
	"slices"

	"github.com/ggufy/ggufy/internal/pplstat"
)

// KL divergence as llama-perplexity --kl-divergence reports it (tools/perplexity/perplexity.cpp
// of llama.cpp v0.5.0, MIT License, kl_divergence(); its statistics are in internal/pplstat).
// Both models are evaluated in lockstep on the base model's tokens, chunk by chunk, and every
// scored position compares the two full distributions. The log-probabilities are taken in double
// precision from the float32 logits (llama-perplexity stores the base model's as 16-bit values in
// its logits file, which adds small noise; here a model compared with itself gives exactly 0).

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
	var acc []pplstat.Position
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
			p := pplstat.Compare(baseRows[j*nv:(j+1)*nv], logits, tok, lb, lt)
			acc = append(acc, p)
			sumKLD += p.KLD
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

func (r *KLDResult) report(ps []pplstat.Position) {
	count := len(ps)
	r.Positions = count
	if count == 0 {
		return
	}
	var sums pplstat.Sums
	klds := make([]float64, count)
	pds := make([]float64, count)
	for i, p := range ps {
		sums.Add(p)
		klds[i] = p.KLD
		pds[i] = p.PDiff
	}
	r.KLD = slices.Clone(klds)
	slices.Sort(klds)
	slices.Sort(pds)
	st := sums.Summary()
	r.PPLTest, r.PPLTestErr, r.PPLBase, r.PPLBaseErr = st.PPLTest, st.PPLTestErr, st.PPLBase, st.PPLBaseErr
	r.CorLnPPL = st.CorLnPPL
	r.LnPPLRatio, r.LnPPLRatioErr, r.PPLRatio, r.PPLRatioErr = st.LnPPLRatio, st.LnPPLRatioErr, st.PPLRatio, st.PPLRatioErr
	r.KLDMean, r.KLDErr = st.KLDMean, st.KLDErr
	pc := func(f float32) float64 { return pplstat.Percentile(klds, f) }
	r.KLDMax, r.KLDP999, r.KLDP99, r.KLDP95, r.KLDP90 = pc(1), pc(0.999), pc(0.99), pc(0.95), pc(0.90)
	r.KLDMedian, r.KLDP10, r.KLDP5, r.KLDP1, r.KLDMin = pplstat.Median(klds), pc(0.10), pc(0.05), pc(0.01), pc(0)
	r.Top1, r.Top1Err = st.Top1, st.Top1Err
	r.DeltaPMean, r.DeltaPMeanErr, r.DeltaPRMS, r.DeltaPRMSErr = st.DeltaPMean, st.DeltaPMeanErr, st.DeltaPRMS, st.DeltaPRMSErr
	pp := func(f float32) float64 { return 100 * pplstat.Percentile(pds, f) }
	r.DeltaPMax, r.DeltaPP99, r.DeltaPMedian, r.DeltaPP1, r.DeltaPMin = pp(1), pp(0.99), 100*pplstat.Median(pds), pp(0.01), pp(0)
}
