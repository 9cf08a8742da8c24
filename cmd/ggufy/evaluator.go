package main

import (
	"context"
	"fmt"

	"github.com/ggufy/ggufy/pipeline"
	"github.com/ggufy/ggufy/quantize"
	"github.com/ggufy/ggufy/runtime"
)

// runtimeEvaluator measures variants and computes importance matrices with ggufy's runtime,
// using llama-perplexity's and llama-imatrix's methods.
type runtimeEvaluator struct {
	threads int
	ctx     int
}

// newEvaluator returns the runtime's perplexity/KLD/imatrix for the pipeline.
func newEvaluator(threads int) (pipeline.Evaluator, error) {
	return &runtimeEvaluator{threads: threads, ctx: 512}, nil
}

func (e *runtimeEvaluator) opts() []runtime.Option {
	o := []runtime.Option{runtime.WithCtx(e.ctx)}
	if e.threads > 0 {
		o = append(o, runtime.WithThreads(e.threads))
	}
	return o
}

func (e *runtimeEvaluator) Imatrix(ctx context.Context, model string, text []byte) (*quantize.Imatrix, error) {
	m, err := runtime.Load(model)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	r, err := runtime.ComputeImatrix(ctx, m, string(text), "ggufy-calibration", nil, e.opts()...)
	if err != nil {
		return nil, err
	}
	return r.Imatrix, nil
}

func (e *runtimeEvaluator) Compare(ctx context.Context, base, test string, text []byte) (*pipeline.Quality, error) {
	bm, err := runtime.Load(base)
	if err != nil {
		return nil, err
	}
	defer bm.Close()
	tm, err := runtime.Load(test)
	if err != nil {
		return nil, err
	}
	defer tm.Close()
	r, err := runtime.KLDivergence(ctx, bm, tm, string(text), nil, e.opts()...)
	if err != nil {
		return nil, fmt.Errorf("compare %s with %s: %w", test, base, err)
	}
	return &pipeline.Quality{PPL: r.PPLTest, PPLErr: r.PPLTestErr, PPLBase: r.PPLBase, KLDMean: r.KLDMean,
		KLDP99: r.KLDP99, KLDMax: r.KLDMax, Top1: r.Top1 / 100}, nil
}
