//go:build llamacpp

package llamacpp

// Perplexity and KL divergence exactly as llama-perplexity computes them. The chunking, the
// batch layout and the float/double arithmetic follow tools/perplexity/perplexity.cpp of
// llama.cpp v0.5.0 (MIT License, Copyright (c) 2023-2024 The ggml authors): perplexity(),
// kl_divergence() and their log_softmax() helpers, rewritten in Go.

/*
#include "llama.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/ggufy/ggufy/internal/pplstat"
)

// PPLOptions are llama-perplexity's options; zero fields take its defaults.
type PPLOptions struct {
	NCtx      int       // tokens per chunk (-c); 0: 512
	NBatch    int       // -b; 0: 2048. n_batch/n_ctx chunks go into one llama_decode
	NUBatch   int       // -ub; 0: 512
	Threads   int       // 0: runtime.NumCPU()
	Chunks    int       // --chunks; 0 or negative: all
	FlashAttn FlashAttn // -fa; auto when zero
	TypeK     string    // -ctk; "f16" when empty
	TypeV     string    // -ctv; "f16" when empty
}

// PPLResult is llama-perplexity's outcome.
type PPLResult struct {
	PPL     float64   // "Final estimate: PPL = x"
	PPLErr  float64   // its "+/- y" (NaN when the variance came out negative)
	MeanNLL float64   // ln PPL
	Tokens  []int32   // the whole text as tokenized (with BOS when the vocabulary adds it)
	Chunks  int       // chunks evaluated
	NCtx    int       // tokens per chunk
	NSeq    int       // chunks per llama_decode (n_batch/n_ctx)
	Running []float64 // the running PPL printed after each chunk ("[k]value")
	NLL     []float64 // -ln p(token) of every scored token, chunk by chunk
}

// evalSetup is llama-perplexity's main() + the start of perplexity(): context geometry and
// tokens.
type evalSetup struct {
	nCtx, nBatch, nSeq, numBatches, first, nChunk int
	ctx                                           ctxParams
	tokens                                        []int32
}

func (o PPLOptions) setup(m *Model, text string) (evalSetup, error) {
	var s evalSetup
	if err := m.ok(); err != nil {
		return s, err
	}
	s.nCtx = o.NCtx
	if s.nCtx == 0 {
		s.nCtx = 512
	}
	nBatch := o.NBatch
	if nBatch == 0 {
		nBatch = 2048
	}
	if s.nCtx < 3 || nBatch < 1 {
		return s, fmt.Errorf("llamacpp: perplexity needs n_ctx >= 3 and n_batch >= 1 (n_ctx %d, n_batch %d)", s.nCtx, nBatch)
	}
	if bool(C.llama_vocab_get_add_eos(m.vocab)) {
		return s, errors.New("llamacpp: the vocabulary adds EOS when tokenizing; llama-perplexity refuses such models")
	}
	// main(): n_parallel = max(1, n_batch/n_ctx); n_ctx = n_parallel*n_ctx; n_batch = min(n_batch, n_ctx)
	s.nSeq = max(1, nBatch/s.nCtx)
	s.nBatch = min(nBatch, s.nSeq*s.nCtx)
	if !(s.nBatch < s.nCtx || s.nBatch%s.nCtx == 0) {
		return s, fmt.Errorf("llamacpp: llama-perplexity requires n_batch < n_ctx or n_batch %% n_ctx == 0 (n_batch %d, n_ctx %d)", s.nBatch, s.nCtx)
	}
	s.numBatches = (s.nCtx + s.nBatch - 1) / s.nBatch
	s.first = s.nCtx / 2
	s.ctx = ctxParams{nCtx: s.nSeq * s.nCtx, nBatch: s.nBatch, nUBatch: o.NUBatch, nSeq: s.nSeq,
		threads: defaultThreads(o.Threads), fa: o.FlashAttn, typeK: o.TypeK, typeV: o.TypeV}
	if s.ctx.nUBatch == 0 {
		s.ctx.nUBatch = 512
	}
	// common's -f handler drops one trailing newline; the text is tokenized once with BOS.
	text = strings.TrimSuffix(text, "\n")
	toks, err := m.Tokenize(text, true, false)
	if err != nil {
		return s, err
	}
	if len(toks) < 2*s.nCtx {
		return s, fmt.Errorf("llamacpp: perplexity needs at least %d tokens for a context of %d; the text tokenizes to %d",
			2*s.nCtx, s.nCtx, len(toks))
	}
	s.tokens = toks
	s.nChunk = len(toks) / s.nCtx
	if o.Chunks > 0 {
		s.nChunk = min(o.Chunks, s.nChunk)
	}
	return s, nil
}

// chunkEval runs llama-perplexity's decode loop on one model.
type chunkEval struct {
	s      evalSetup
	m      *Model
	ctx    *C.struct_llama_context
	b      *batch
	addBOS bool
	bos    int32
	acc    []float32 // logits gathered over several decodes when n_ctx > n_batch
}

func newChunkEval(m *Model, s evalSetup) (*chunkEval, error) {
	ctx, err := m.newContext(s.ctx)
	if err != nil {
		return nil, err
	}
	return &chunkEval{
		s: s, m: m, ctx: ctx, b: newBatch(min(s.nBatch, s.nCtx*s.nSeq)),
		addBOS: bool(C.llama_vocab_get_add_bos(m.vocab)), bos: int32(C.llama_vocab_bos(m.vocab)),
	}, nil
}

func (e *chunkEval) close() {
	e.b.free()
	C.llama_free(e.ctx)
}

// run evaluates chunks i .. i+nSeqBatch-1 of tokens, one sequence each: the KV cache is
// cleared, each chunk's first token becomes BOS when the vocabulary adds BOS, and logits are
// kept for positions >= n_ctx/2.
func (e *chunkEval) run(tokens []int32, i, nSeqBatch int) error {
	s := &e.s
	start := i * s.nCtx
	end := start + s.nCtx
	C.llama_memory_clear(C.llama_get_memory(e.ctx), true)
	e.acc = e.acc[:0]
	for j := range s.numBatches {
		batchStart := start + j*s.nBatch
		batchSize := min(end-batchStart, s.nBatch)
		nOutputs := 0
		for seq := range nSeqBatch {
			seqStart := batchStart + seq*s.nCtx
			for k := range batchSize {
				tok := tokens[seqStart+k]
				if k == 0 && j == 0 && e.addBOS {
					tok = e.bos
				}
				pos := j*s.nBatch + k
				out := pos >= s.first
				e.b.add(tok, int32(pos), int32(seq), out)
				if out {
					nOutputs++
				}
			}
		}
		if err := e.b.decode(e.ctx); err != nil {
			return err
		}
		if s.numBatches > 1 && nOutputs > 0 {
			rows, err := logitRows(e.ctx, 0, nOutputs, e.m.nVocab)
			if err != nil {
				return err
			}
			e.acc = append(e.acc, rows...)
		}
	}
	return nil
}

// rows returns the logits of positions n_ctx/2 .. n_ctx-2 of sequence seq of the last run,
// (n_ctx-1-n_ctx/2) rows; they predict tokens n_ctx/2+1 .. n_ctx-1 of the chunk.
func (e *chunkEval) rows(seq int) ([]float32, error) {
	n := e.s.nCtx - 1 - e.s.first
	if e.s.numBatches > 1 {
		return e.acc[:n*e.m.nVocab], nil
	}
	return logitRows(e.ctx, seq*e.s.nCtx+e.s.first, n, e.m.nVocab)
}

// Perplexity is llama-perplexity's perplexity() over text (the contents of the file passed
// with -f; one trailing newline is dropped as common's argument parser does).
func (m *Model) Perplexity(text string, opts PPLOptions) (PPLResult, error) {
	s, err := opts.setup(m, text)
	if err != nil {
		return PPLResult{}, err
	}
	e, err := newChunkEval(m, s)
	if err != nil {
		return PPLResult{}, err
	}
	defer e.close()
	r := PPLResult{Tokens: s.tokens, Chunks: s.nChunk, NCtx: s.nCtx, NSeq: s.nSeq}
	var nll, nll2 float64
	count := 0
	per := s.nCtx - 1 - s.first
	for i := 0; i < s.nChunk; i += s.nSeq {
		nSeqBatch := min(s.nSeq, s.nChunk-i)
		if err := e.run(s.tokens, i, nSeqBatch); err != nil {
			return PPLResult{}, err
		}
		for seq := range nSeqBatch {
			rows, err := e.rows(seq)
			if err != nil {
				return PPLResult{}, err
			}
			targets := s.tokens[(i+seq)*s.nCtx+s.first+1:][:per]
			for k, tok := range targets {
				v := -pplstat.LogSoftmaxAt(rows[k*m.nVocab:(k+1)*m.nVocab], tok)
				nll += v
				nll2 += float64(v * v)
				r.NLL = append(r.NLL, v)
			}
			count += per
			r.Running = append(r.Running, math.Exp(nll/float64(count)))
		}
	}
	r.MeanNLL, r.PPL, r.PPLErr = pplstat.PPL(nll, nll2, count)
	return r, nil
}

// expf is C's expf: exp in double, rounded once to float.
func expf(x float32) float32 { return float32(math.Exp(float64(x))) }

// KLDStats are llama-perplexity --kl-divergence's statistics. Δp values are percentages.
type KLDStats struct {
	Positions     int
	PPLBase       float64
	PPLBaseErr    float64
	PPLTest       float64
	PPLTestErr    float64
	LnPPLRatio    float64 // mean ln(PPL(test)/PPL(base))
	LnPPLRatioErr float64
	PPLRatio      float64 // PPL(test)/PPL(base)
	PPLRatioErr   float64
	PPLDiff       float64 // PPL(test)-PPL(base)
	PPLDiffErr    float64
	CorLnPPL      float64 // correlation of ln PPL(test) and ln PPL(base); NaN if undefined

	MeanKLD, KLDErr               float64
	Max, P999, P99, P95, P90      float64 // KLD percentiles
	Median, P10, P5, P1, P01, Min float64

	Top1, Top1Err float64 // % of positions where both models rank the same token first

	MeanDeltaP, MeanDeltaPErr float64 // Δp = p_test(token) - p_base(token), in %
	RMSDeltaP, RMSDeltaPErr   float64
	MaxDeltaP, P99DeltaP      float64
	MedianDeltaP              float64
	P1DeltaP, MinDeltaP       float64
	P95DeltaP, P5DeltaP       float64
	P90DeltaP, P10DeltaP      float64
	P75DeltaP, P25DeltaP      float64
	P999DeltaP, P01DeltaP     float64
	SameTop                   int // positions with the same top token
}

// KLDResult compares a test model with a base model over the same chunks.
type KLDResult struct {
	// KLDStats are exact: double-precision log-softmax of both models' full float32 logits.
	KLDStats
	NCtx   int
	Chunks int
	// TestTokenizationIdentical says whether the test model tokenizes the text like the base
	// (both are evaluated on the base model's tokens, as llama-perplexity does).
	TestTokenizationIdentical bool
	KLD                       []float64 // exact KLD of every scored position, chunk by chunk
	// Compat is what llama-perplexity itself prints: the base log-probabilities stored as
	// 16-bit values over [max-16, max] and float arithmetic (so its PPLBase is lower than the
	// true one when targets fall below max-16, and a self-comparison shows small noise).
	Compat KLDStats
}

// KLDivergence is llama-perplexity --kl-divergence of test against base over text (the -f file
// contents). Both models are evaluated in lockstep, chunk group by chunk group, on the base
// model's tokens, so no logits are stored.
func KLDivergence(base, test *Model, text string, opts PPLOptions) (KLDResult, error) {
	if err := test.ok(); err != nil {
		return KLDResult{}, err
	}
	s, err := opts.setup(base, text)
	if err != nil {
		return KLDResult{}, err
	}
	if base.nVocab != test.nVocab {
		return KLDResult{}, fmt.Errorf("llamacpp: inconsistent vocabulary (%d vs %d)", base.nVocab, test.nVocab)
	}
	ttoks, err := test.Tokenize(strings.TrimSuffix(text, "\n"), true, false)
	if err != nil {
		return KLDResult{}, err
	}
	eb, err := newChunkEval(base, s)
	if err != nil {
		return KLDResult{}, err
	}
	defer eb.close()
	et, err := newChunkEval(test, s)
	if err != nil {
		return KLDResult{}, err
	}
	defer et.close()

	r := KLDResult{NCtx: s.nCtx, Chunks: s.nChunk, TestTokenizationIdentical: slices.Equal(ttoks, s.tokens)}
	var exact kldAcc
	var compat kldAcc32
	nv := base.nVocab
	per := s.nCtx - 1 - s.first
	w := newKLDWork(nv)
	for i := 0; i < s.nChunk; i += s.nSeq {
		nSeqBatch := min(s.nSeq, s.nChunk-i)
		if err := eb.run(s.tokens, i, nSeqBatch); err != nil {
			return KLDResult{}, err
		}
		if err := et.run(s.tokens, i, nSeqBatch); err != nil {
			return KLDResult{}, err
		}
		for seq := range nSeqBatch {
			rb, err := eb.rows(seq)
			if err != nil {
				return KLDResult{}, err
			}
			rt, err := et.rows(seq)
			if err != nil {
				return KLDResult{}, err
			}
			targets := s.tokens[(i+seq)*s.nCtx+s.first+1:][:per]
			for k, tok := range targets {
				b, t := rb[k*nv:(k+1)*nv], rt[k*nv:(k+1)*nv]
				exact.add(pplstat.Compare(b, t, tok, w.lb, w.lt))
				w.quantizeBase(b)
				compat.add(w.compat(t, tok))
			}
		}
	}
	r.KLD = exact.klds
	r.KLDStats = exact.report()
	r.Compat = compat.report()
	return r, nil
}

// kldWork holds per-row scratch space.
type kldWork struct {
	lb, lt []float64 // pplstat.Compare's log-softmax rows
	// the 16-bit base row of perplexity.cpp's logits file
	q              []uint16
	scale, minLogP float32
}

func newKLDWork(nv int) *kldWork {
	return &kldWork{lb: make([]float64, nv), lt: make([]float64, nv), q: make([]uint16, nv)}
}

// quantizeBase is perplexity.cpp's log_softmax(n_vocab, logits, uint16_t *log_prob, tok): the
// base row as llama-perplexity stores it in its logits file.
func (w *kldWork) quantizeBase(row []float32) {
	mx, mn := row[0], row[0]
	for _, v := range row[1:] {
		mx = max(mx, v)
		mn = min(mn, v)
	}
	mn = max(mn, mx-16)
	var sum float64
	for _, v := range row {
		sum += float64(expf(v - mx))
	}
	lse := float32(math.Log(sum))
	w.minLogP = mn - mx - lse
	w.scale = (mx - mn) / 65535
	if w.scale == 0 {
		clear(w.q)
		return
	}
	inv := 1 / w.scale
	for i, v := range row {
		w.q[i] = 0
		if v > mn {
			w.q[i] = uint16(int32(math.RoundToEven(float64(float32(inv * (v - mn))))))
		}
	}
}

// compat is perplexity.cpp's log_softmax(n_vocab, logits, base_log_prob, tok, kld) for one
// position, float arithmetic, against the row quantizeBase stored last.
func (w *kldWork) compat(row []float32, tok int32) kldPos32 {
	mx := row[0]
	imax := 0
	for i, v := range row[1:] {
		if v > mx {
			mx, imax = v, i+1
		}
	}
	var sum float64
	for _, v := range row {
		sum += float64(expf(v - mx))
	}
	lse := float32(math.Log(sum))
	nll := mx + lse - row[tok]
	nllBase := -(float32(w.scale*float32(w.q[tok])) + w.minLogP)
	mx += lse
	var kld float64
	imaxBase := -1
	var pMax float32
	for i, q := range w.q {
		pl := float32(w.scale*float32(q)) + w.minLogP
		if i == 0 || pl > pMax {
			pMax, imaxBase = pl, i
		}
		if pl > -16 {
			kld += float64(expf(pl) * (pl - row[i] + mx))
		}
	}
	pDiff := expf(-nll) - expf(-nllBase)
	return kldPos32{nll: nll, nllBase: nllBase, kld: kld, pDiff: pDiff, same: imax == imaxBase}
}

// kldAcc accumulates exact positions in double precision.
type kldAcc struct {
	pplstat.Sums
	klds, pDiffs []float64
}

func (a *kldAcc) add(p pplstat.Position) {
	a.Sums.Add(p)
	a.klds = append(a.klds, p.KLD)
	a.pDiffs = append(a.pDiffs, p.PDiff)
}

func (a *kldAcc) report() KLDStats { return kldReport(&a.Sums, a.klds, a.pDiffs) }

// kldPos32 is one position of the llama-perplexity-compatible computation.
type kldPos32 struct {
	nll, nllBase, pDiff float32
	kld                 float64
	same                bool
}

// kldAcc32 accumulates like perplexity.cpp's kl_divergence_result: float products added to
// double sums, KLD and Δp kept as float.
type kldAcc32 struct {
	pplstat.Sums
	klds, pDiffs []float32
}

func (a *kldAcc32) add(p kldPos32) {
	a.NLL += float64(p.nll)
	a.NLL2 += float64(float32(p.nll * p.nll))
	a.NLLBase += float64(p.nllBase)
	a.NLLBase2 += float64(float32(p.nllBase * p.nllBase))
	a.NLLNLLBase += float64(float32(p.nll * p.nllBase))
	a.KLD += p.kld
	a.KLD2 += float64(p.kld * p.kld)
	a.PDiff += float64(p.pDiff)
	pd2 := float64(float32(p.pDiff * p.pDiff))
	a.PDiff2 += pd2
	a.PDiff4 += float64(pd2 * pd2)
	if p.same {
		a.Same++
	}
	a.Count++
	a.klds = append(a.klds, float32(p.kld))
	a.pDiffs = append(a.pDiffs, p.pDiff)
}

func (a *kldAcc32) report() KLDStats { return kldReport(&a.Sums, a.klds, a.pDiffs) }

// kldReport is kl_divergence()'s report of the sums s and of the KLD and Δp values, whose
// percentiles and medians it computes in T (float as llama-perplexity, or double).
func kldReport[T float32 | float64](s *pplstat.Sums, klds, pDiffs []T) KLDStats {
	if s.Count == 0 {
		return KLDStats{}
	}
	sk := slices.Clone(klds)
	slices.Sort(sk)
	sp := slices.Clone(pDiffs)
	slices.Sort(sp)
	kp := func(f float32) float64 { return float64(pplstat.Percentile(sk, f)) }
	pp := func(f float32) float64 { return float64(pplstat.Percentile(sp, f)) }
	kmed, pmed := float64(pplstat.Median(sk)), float64(pplstat.Median(sp))
	st := s.Summary()
	r := KLDStats{Positions: s.Count, SameTop: s.Same}
	r.PPLTest, r.PPLTestErr, r.PPLBase, r.PPLBaseErr = st.PPLTest, st.PPLTestErr, st.PPLBase, st.PPLBaseErr
	r.CorLnPPL = st.CorLnPPL
	r.LnPPLRatio, r.LnPPLRatioErr, r.PPLRatio, r.PPLRatioErr = st.LnPPLRatio, st.LnPPLRatioErr, st.PPLRatio, st.PPLRatioErr
	r.PPLDiff = r.PPLTest - r.PPLBase
	r.PPLDiffErr = math.Sqrt(max(0, r.PPLTestErr*r.PPLTestErr+r.PPLBaseErr*r.PPLBaseErr-2*r.PPLTest*r.PPLBase*st.Cov))
	r.MeanKLD, r.KLDErr = st.KLDMean, st.KLDErr
	r.Max, r.P999, r.P99, r.P95, r.P90 = kp(1), kp(0.999), kp(0.99), kp(0.95), kp(0.90)
	r.Median, r.P10, r.P5, r.P1, r.P01, r.Min = kmed, kp(0.10), kp(0.05), kp(0.01), kp(0.001), kp(0)
	r.Top1, r.Top1Err = st.Top1, st.Top1Err
	r.MeanDeltaP, r.MeanDeltaPErr = st.DeltaPMean, st.DeltaPMeanErr
	r.RMSDeltaP, r.RMSDeltaPErr = st.DeltaPRMS, st.DeltaPRMSErr
	r.MaxDeltaP, r.P999DeltaP, r.P99DeltaP, r.P95DeltaP = 100*pp(1), 100*pp(0.999), 100*pp(0.99), 100*pp(0.95)
	r.P90DeltaP, r.P75DeltaP, r.MedianDeltaP, r.P25DeltaP = 100*pp(0.90), 100*pp(0.75), 100*pmed, 100*pp(0.25)
	r.P10DeltaP, r.P5DeltaP, r.P1DeltaP, r.P01DeltaP, r.MinDeltaP = 100*pp(0.10), 100*pp(0.05), 100*pp(0.01), 100*pp(0.001), 100*pp(0)
	return r
}
