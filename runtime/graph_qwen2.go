package runtime

// The qwen2 graph (src/models/qwen2.cpp of llama.cpp v0.5.0, MIT License): Qwen 1.5/2/2.5.
// The llama block with Q/K/V biases, NeoX RoPE (with YaRN when configured) and an optional output
// bias.

func init() {
	register(&family{
		arch:     "qwen2",
		ropeType: ropeNeox,
		hparams:  rmsEps,
		tensors: func(m *Model, l *loader) {
			hp := m.HParams
			commonTensors(m, l)
			m.outB = l.vec("output.bias", false, m.nVocab)
			for il := range hp.NLayer {
				ly := &m.layers[il]
				attnTensors(m, l, ly, il)
				denseFFNTensors(m, l, ly, il, hp.NFF[il])
			}
		},
		forward: qwen2Forward,
	})
}

func qwen2Forward(s *Session, b *ubatch) error {
	return s.preNormForward(b, preNorm{
		attn: attnParams{scale: 1 / sqrtf(float32(s.m.HParams.HeadDimV))},
		ffn: func(s *Session, dst, x []float32, n int, ly *layer) {
			s.ffnGLU(dst, x, n, ly.ffnUp, ly.ffnGate, ly.ffnDown, nil, nil, nil, swigluRow)
		},
		outB: s.m.outB,
	})
}
