package runtime

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/ggufy/ggufy/internal/pplstat"
)

// Perplexity as llama-perplexity computes it (tools/perplexity/perplexity.cpp of llama.cpp
// v0.5.0, MIT License, perplexity() and log_softmax(), the latter in internal/pplstat): the text
// is tokenized once with BOS, cut into chunks of n_ctx tokens, each chunk is evaluated from an
// empty KV cache with its first token replaced by BOS, and the second half of each chunk is
// scored.

// PPLResult is the outcome of Perplexity.
type PPLResult struct {
	PPL     float64   // "Final estimate: PPL = x"
	PPLErr  float64   // its "+/- y" (NaN when the variance came out negative)
	MeanNLL float64   // ln PPL
	Tokens  int       // tokens of the whole text (with BOS when the vocabulary adds it)
	Chunks  int       // chunks evaluated
	Ctx     int       // tokens per chunk
	Running []float64 // the running estimate after each chunk
	NLL     []float64 // -ln p(token) of every scored token, chunk by chunk
}

// ErrTooShort means the text has fewer than two chunks' worth of tokens.
var ErrTooShort = errors.New("runtime: text too short")

// chunkTokens tokenizes text as llama-perplexity does (common's -f handler drops one trailing
// newline; BOS is added when the vocabulary asks for it) and returns the tokens and the number
// of chunks to evaluate.
func chunkTokens(m *Model, text string, o Options) ([]int32, int, error) {
	if o.Ctx < 3 {
		return nil, 0, fmt.Errorf("runtime: a context of %d tokens is too small (llama-perplexity needs 3)", o.Ctx)
	}
	if m.Tokenizer.AddEOS() {
		return nil, 0, errors.New("runtime: the vocabulary adds EOS when tokenizing; llama-perplexity refuses such models")
	}
	text = strings.TrimSuffix(text, "\n")
	toks := m.Tokenizer.Encode(text, true, false)
	if len(toks) < 2*o.Ctx {
		return nil, 0, fmt.Errorf("%w: %d tokens, a context of %d needs at least %d", ErrTooShort, len(toks), o.Ctx, 2*o.Ctx)
	}
	n := len(toks) / o.Ctx
	if o.Chunks > 0 {
		n = min(n, o.Chunks)
	}
	return toks, n, nil
}

// chunkRunner evaluates chunks on one session.
type chunkRunner struct {
	s      *Session
	toks   []int32
	nctx   int
	first  int
	outs   []int
	buf    []int32
	addBOS bool
	bos    int32
}

func newChunkRunner(s *Session, toks []int32) *chunkRunner {
	nctx := s.opts.Ctx
	first := nctx / 2
	r := &chunkRunner{s: s, toks: toks, nctx: nctx, first: first, buf: make([]int32, nctx),
		addBOS: s.m.Tokenizer.AddBOS(), bos: s.m.Tokenizer.BOS()}
	// positions first .. n_ctx-2 predict tokens first+1 .. n_ctx-1
	for k := first; k < nctx-1; k++ {
		r.outs = append(r.outs, k)
	}
	return r
}

// run evaluates chunk i and calls fn(j, logits, target) for its scored positions j = 0, 1, ...
func (r *chunkRunner) run(i int, fn func(j int, logits []float32, target int32) error) error {
	copy(r.buf, r.toks[i*r.nctx:(i+1)*r.nctx])
	if r.addBOS {
		r.buf[0] = r.bos
	}
	r.s.Reset()
	return r.s.Decode(r.buf, r.outs, func(k int, logits []float32) error {
		return fn(k-r.first, logits, r.toks[i*r.nctx+k+1])
	})
}

// Perplexity computes llama-perplexity's perplexity of text. progress, if not nil, is called
// after every chunk with the running estimate.
func Perplexity(ctx context.Context, m *Model, text string, progress func(done, total int, running float64), opts ...Option) (*PPLResult, error) {
	o := NewOptions(opts...)
	toks, nChunk, err := chunkTokens(m, text, o)
	if err != nil {
		return nil, err
	}
	s, err := m.newSession(o)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	r := newChunkRunner(s, toks)
	res := &PPLResult{Tokens: len(toks), Chunks: nChunk, Ctx: o.Ctx}
	var nll, nll2 float64
	count := 0
	for i := range nChunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		err := r.run(i, func(_ int, logits []float32, target int32) error {
			v := -pplstat.LogSoftmaxAt(logits, target)
			nll += v
			nll2 += v * v
			res.NLL = append(res.NLL, v)
			count++
			return nil
		})
		if err != nil {
			return nil, err
		}
		res.Running = append(res.Running, math.Exp(nll/float64(count)))
		if progress != nil {
			progress(i+1, nChunk, res.Running[len(res.Running)-1])
		}
	}
	res.MeanNLL, res.PPL, res.PPLErr = pplstat.PPL(nll, nll2, count)
	return res, nil
}
