package runtime

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/ggufy/ggufy/internal/pplstat"
	"github.com/ggufy/ggufy/quantize"
)

// Importance matrices as llama-imatrix collects them (tools/imatrix/imatrix.cpp of llama.cpp
// v0.5.0, MIT License, IMatrixCollector::collect_imatrix): for every matrix product whose weight
// is a "blk.*" tensor, the float32 sums of the squared input activations per column; dense
// products of fewer than 16 rows are skipped, expert products (mul_mat_id) are counted per
// expert.

// imatrixCollector accumulates the statistics of one session.
type imatrixCollector struct {
	entries map[string]*quantize.ImatrixEntry
}

func newImatrixCollector() *imatrixCollector {
	return &imatrixCollector{entries: map[string]*quantize.ImatrixEntry{}}
}

func (c *imatrixCollector) entry(w *Tensor, nMat int) *quantize.ImatrixEntry {
	e := c.entries[w.Name]
	if e == nil {
		e = &quantize.ImatrixEntry{Sums: make([]float32, w.Cols()*nMat), Counts: make([]int64, nMat)}
		c.entries[w.Name] = e
	}
	return e
}

// dense records n input rows of a ggml_mul_mat with weight w.
func (c *imatrixCollector) dense(w *Tensor, x []float32, n int) {
	if n < 16 || !strings.HasPrefix(w.Name, "blk.") {
		return
	}
	e := c.entry(w, 1)
	cols := w.Cols()
	acc := e.Sums[:cols]
	for r := range n {
		for j, v := range x[r*cols : (r+1)*cols] {
			acc[j] += v * v
		}
	}
	e.Counts[0] += int64(n)
}

// expert records m input rows routed to expert ex of the 3-D weight w (ggml_mul_mat_id).
func (c *imatrixCollector) expert(w *Tensor, ex int, x []float32, m int) {
	e := c.entry(w, w.numMatrices())
	cols := w.Cols()
	acc := e.Sums[ex*cols : (ex+1)*cols]
	for r := range m {
		for j, v := range x[r*cols : (r+1)*cols] {
			acc[j] += v * v
		}
	}
	e.Counts[ex] += int64(m)
}

// ImatrixResult is a collected importance matrix and the perplexity seen while collecting.
type ImatrixResult struct {
	Imatrix *quantize.Imatrix
	PPL     float64 // perplexity over the second halves of the chunks, as llama-imatrix prints it
	Chunks  int
	Tokens  int
}

// ComputeImatrix runs llama-imatrix's compute_imatrix over text: the text is tokenized with BOS,
// cut into chunks of Ctx tokens whose first token becomes BOS, every chunk is evaluated from an
// empty cache with all its tokens as outputs, and the activations of every blk.* matrix product
// are collected. dataset is recorded as the imatrix's dataset name (the text file's path).
// progress, if not nil, is called after each chunk.
func ComputeImatrix(ctx context.Context, m *Model, text, dataset string, progress func(done, total int, ppl float64), opts ...Option) (*ImatrixResult, error) {
	o := NewOptions(opts...)
	s, err := m.newSession(o)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	toks, nChunk, err := chunkTokens(m, text, o)
	if err != nil {
		return nil, err
	}
	s.imat = newImatrixCollector()
	nctx := o.Ctx
	first := nctx / 2
	outs := make([]int, nctx)
	for i := range outs {
		outs[i] = i
	}
	var nll float64
	count := 0
	chunk := make([]int32, nctx)
	for i := range nChunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		copy(chunk, toks[i*nctx:(i+1)*nctx])
		if m.Tokenizer.AddBOS() {
			chunk[0] = m.Tokenizer.BOS()
		}
		s.Reset()
		err := s.Decode(chunk, outs, func(k int, logits []float32) error {
			if k >= first && k < nctx-1 {
				nll -= pplstat.LogSoftmaxAt(logits, toks[i*nctx+k+1])
				count++
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if progress != nil {
			progress(i+1, nChunk, math.Exp(nll/float64(count)))
		}
	}
	im := &quantize.Imatrix{Entries: map[string]quantize.ImatrixEntry{}, ChunkCount: nChunk, ChunkSize: nctx, HasMetadata: true}
	if dataset != "" {
		im.Datasets = []string{dataset}
	}
	for name, e := range s.imat.entries {
		im.Entries[name] = *e
	}
	if len(im.Entries) == 0 {
		return nil, fmt.Errorf("runtime: imatrix: no activations collected (chunks of %d tokens are too small)", nctx)
	}
	return &ImatrixResult{Imatrix: im, PPL: math.Exp(nll / float64(count)), Chunks: nChunk, Tokens: nChunk * nctx}, nil
}
