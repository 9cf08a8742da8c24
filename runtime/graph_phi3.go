package runtime

// The phi3 graph (src/models/phi3.cpp of llama.cpp v0.5.0, MIT License): Phi-3 and Phi-3.5. Fused
// QKV projection, NeoX RoPE with LongRoPE factors (the long ones when the context exceeds the
// original training context), Q scaled by 1/sqrt(head size), and a fused gate/up projection
// followed by SwiGLU. Sliding windows in the metadata are ignored, as llama.cpp does.

func init() {
	register(&family{
		arch:        "phi3",
		ropeType:    ropeNeox,
		ropeFactors: true,
		hparams: func(h *HParams, r *metaReader) error {
			r.f32("attention.layer_norm_rms_epsilon", &h.NormRMSEps, true)
			return nil
		},
		tensors: func(m *Model, l *loader) {
			hp := m.HParams
			E := hp.NEmbd
			commonTensors(m, l)
			m.ropeLong = l.vec("rope_factors_long.weight", false, hp.NRot/2)
			m.ropeShort = l.vec("rope_factors_short.weight", false, hp.NRot/2)
			for il := range hp.NLayer {
				ly := &m.layers[il]
				attnTensors(m, l, ly, il)
				ly.ffnNorm = l.vec(blk(il, "ffn_norm.weight"), true, E)
				ly.ffnDown = l.weight(blk(il, "ffn_down.weight"), true, hp.NFF[il], E)
				ly.ffnUp = l.weight(blk(il, "ffn_up.weight"), true, E, 2*hp.NFF[il])
			}
		},
		forward: func(s *Session, b *ubatch) error {
			return s.preNormForward(b, preNorm{
				attn: attnParams{scale: 1, qScale: 1 / sqrtf(float32(s.m.HParams.HeadDimV))},
				ffn: func(s *Session, dst, x []float32, n int, ly *layer) {
					s.ffnSwiGLUFused(dst, x, n, ly.ffnUp, ly.ffnDown)
				},
			})
		},
	})
}
