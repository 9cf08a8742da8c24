package runtime

import (
	"fmt"

	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/runtime/kernels"
)

// Matrix products as ggml-cpu's mul_mat computes them: the float32 activations are first
// converted to the weight type's vec_dot_type (f32, f16, bf16, q8_0, q8_1 or q8_K, byte-identical
// to ggml's from_float), then each output is the kernel's dot product of a weight row with an
// activation row.

// kernelError carries an error from inside a forward pass (a shape the loader should have
// rejected) up to Decode, which returns it.
type kernelError struct{ err error }

func check(err error) {
	if err != nil {
		panic(kernelError{err})
	}
}

// quantize converts n rows of cols activations to the activation format of weight type t, in the
// session's activation buffer (valid until the next quantize).
func (s *Session) quantize(x []float32, n, cols int, t gguf.Type) []byte {
	as, err := kernels.ActivationRowSize(t, cols)
	check(err)
	act := s.sc.act[:n*as]
	check(kernels.QuantizeBatch(s.pool, t, act, x[:n*cols], n))
	return act
}

// mul computes dst = W_e · act for n activation rows quantized for w's type, plus bias b (may be
// nil). dst is token-major: row i holds the w.Rows() outputs of activation row i.
func (s *Session) mul(dst []float32, act []byte, n int, w *Tensor, e int, b []float32) {
	rows := w.Rows()
	m := w.matrix(e)
	as := len(act) / n
	for c0 := 0; c0 < n; c0 += mulColumnBlock {
		c1 := min(n, c0+mulColumnBlock)
		check(kernels.MatMul(s.pool, dst[c0*rows:c1*rows], m, act[c0*as:c1*as], c1-c0))
	}
	if b != nil {
		for i := range n {
			addTo(dst[i*rows:(i+1)*rows], b)
		}
	}
}

// mulColumnBlock is the number of activation columns one kernels.MatMul call multiplies: a
// micro-batch of up to 512 tokens goes in one call. (Blocks of 64 columns measured slower on a
// 16-core machine, 0.59-0.69x llama.cpp against 0.73-0.86x, from eight times the fan-outs.)
const mulColumnBlock = 512

// proj is one projection of a shared input: dst = w·x + b.
type proj struct {
	w   *Tensor
	b   []float32
	dst []float32
}

// linear is build_lora_mm plus an optional bias: dst = W·x + b for n rows of x.
func (s *Session) linear(dst, x []float32, n int, w *Tensor, b []float32) {
	s.linearN(x, n, []proj{{w, b, dst}})
}

// linearN computes several projections of the same n input rows, converting the activations once
// per activation format (Q, K and V, or gate and up, share their input).
func (s *Session) linearN(x []float32, n int, ps []proj) {
	if n == 0 {
		return
	}
	var act []byte
	var last gguf.Type = gguf.TypeCount
	for _, p := range ps {
		cols := p.w.Cols()
		if len(x) < n*cols {
			check(fmt.Errorf("runtime: %s: %d inputs for %d rows of %d", p.w.Name, len(x), n, cols))
		}
		if s.imat != nil {
			s.imat.dense(p.w, x, n)
		}
		at, err := kernels.ActivationType(p.w.Type)
		check(err)
		if at != last {
			act = s.quantize(x, n, cols, p.w.Type)
			last = at
		}
		s.mul(p.dst, act, n, p.w, 0, p.b)
	}
}
