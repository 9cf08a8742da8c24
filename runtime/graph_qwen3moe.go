package runtime

// The qwen3moe graph (src/models/qwen3moe.cpp of llama.cpp v0.5.0, MIT License): the qwen3 block
// whose FFN is a softmax-routed mixture of SwiGLU experts with renormalized weights.

func init() {
	register(&family{
		arch:     "qwen3moe",
		ropeType: ropeNeox,
		hparams: func(h *HParams, r *metaReader) error {
			r.u32("expert_feed_forward_length", &h.NFFExp, false)
			needExperts(h, r)
			return rmsEps(h, r)
		},
		tensors: func(m *Model, l *loader) {
			hp := m.HParams
			commonTensors(m, l)
			for il := range hp.NLayer {
				ly := &m.layers[il]
				attnTensors(m, l, ly, il)
				qkNormTensors(m, l, ly, il)
				moeTensors(m, l, ly, il, expertFF(hp, il))
			}
		},
		forward: func(s *Session, b *ubatch) error {
			return s.preNormForward(b, preNorm{
				attn:   attnParams{scale: 1 / sqrtf(float32(s.m.HParams.HeadDimV))},
				qkNorm: true,
				ffn: func(s *Session, dst, x []float32, n int, ly *layer) {
					s.moeFFN(dst, x, n, ly, true, 0)
				},
			})
		},
	})
}
