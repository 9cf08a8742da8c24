package runtime

// The gemma graph (src/models/gemma.cpp of llama.cpp v0.5.0, MIT License): Gemma 1. Embeddings
// scaled by sqrt(n_embd), RMSNorm blocks (the converter stores the norm weights plus one), NeoX
// RoPE, Q scaled by 1/sqrt(head size) before attention, GeGLU FFN with ggml's fp16 GELU table,
// output tied to the token embeddings.

func init() {
	register(&family{
		arch:     "gemma",
		ropeType: ropeNeox,
		hparams:  rmsEps,
		tensors: func(m *Model, l *loader) {
			hp := m.HParams
			commonTensorsTied(m, l)
			for il := range hp.NLayer {
				ly := &m.layers[il]
				attnTensors(m, l, ly, il)
				denseFFNTensors(m, l, ly, il, hp.NFF[il])
			}
		},
		forward: gemmaForward,
	})
}

// embedScaled looks up the embeddings and multiplies them by sqrtf(n_embd) (ggml_scale).
func (s *Session) embedScaled(x []float32, b *ubatch) {
	E := s.m.HParams.NEmbd
	s.embed(x, b)
	scaleRow(x[:len(b.tokens)*E], sqrtf(float32(E)))
}

func gemmaForward(s *Session, b *ubatch) error {
	return s.preNormForward(b, preNorm{
		scaleEmbd: true,
		attn:      attnParams{scale: 1, qScale: 1 / sqrtf(float32(s.m.HParams.HeadDimV))},
		ffn: func(s *Session, dst, x []float32, n int, ly *layer) {
			s.ffnGLU(dst, x, n, ly.ffnUp, ly.ffnGate, ly.ffnDown, nil, nil, nil, gegluRow)
		},
	})
}
