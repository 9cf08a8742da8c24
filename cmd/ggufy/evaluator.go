package main

import (
	"errors"

	"github.com/ggufy/ggufy/pipeline"
)

// newEvaluator returns the runtime's perplexity/KLD/imatrix for the pipeline.
func newEvaluator(threads int) (pipeline.Evaluator, error) {
	return nil, errors.New("the runtime is not available yet: --eval and --imatrix auto cannot run")
}
