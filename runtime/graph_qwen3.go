package runtime

// The qwen3 graph (src/models/qwen3.cpp of llama.cpp v0.5.0, MIT License): the qwen2 block
// without biases, with RMSNorm of every query and key head (attn_q_norm, attn_k_norm) before
// RoPE.

func init() {
	register(&family{
		arch:     "qwen3",
		ropeType: ropeNeox,
		hparams:  rmsEps,
		tensors: func(m *Model, l *loader) {
			hp := m.HParams
			commonTensors(m, l)
			for il := range hp.NLayer {
				ly := &m.layers[il]
				attnTensors(m, l, ly, il)
				qkNormTensors(m, l, ly, il)
				denseFFNTensors(m, l, ly, il, hp.NFF[il])
			}
		},
		forward: func(s *Session, b *ubatch) error {
			return s.preNormForward(b, preNorm{
				attn:   attnParams{scale: 1 / sqrtf(float32(s.m.HParams.HeadDimV))},
				qkNorm: true,
				ffn: func(s *Session, dst, x []float32, n int, ly *layer) {
					s.ffnGLU(dst, x, n, ly.ffnUp, ly.ffnGate, ly.ffnDown, nil, nil, nil, swigluRow)
				},
			})
		},
	})
}

// qkNormTensors loads attn_q_norm and attn_k_norm (one weight per head dimension).
func qkNormTensors(m *Model, l *loader, ly *layer, il int) {
	dk := m.HParams.HeadDimK
	ly.kNorm = l.vec(blk(il, "attn_k_norm.weight"), true, dk)
	ly.qNorm = l.vec(blk(il, "attn_q_norm.weight"), true, dk)
}
