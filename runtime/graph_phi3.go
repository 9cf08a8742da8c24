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
			m := s.m
			hp := m.HParams
			n, E := len(b.tokens), hp.NEmbd
			eps := hp.NormRMSEps
			x, cur, ffo := s.sc.x, s.sc.cur, s.sc.tmp
			s.embed(x, b)
			ap := attnParams{scale: 1, qScale: 1 / sqrtf(float32(hp.HeadDimV))}
			for il := range hp.NLayer {
				ly := &m.layers[il]
				s.rmsNormRows(cur, x, n, E, ly.attnNorm, eps)
				q, k, v := s.qkv(ly, il, cur, n)
				s.selfAttention(cur, ly, il, q, k, v, n, b.pos0, ap)
				if il == hp.NLayer-1 {
					if n = s.selectOutputs(b, []int{E, E}, cur, x); n == 0 {
						return nil
					}
				}
				s.addRows(x, cur, n, E) // residual
				s.rmsNormRows(cur, x, n, E, ly.ffnNorm, eps)
				s.ffnSwiGLUFused(ffo, cur, n, ly.ffnUp, ly.ffnDown)
				s.addRows(x, ffo, n, E)
			}
			s.rmsNormRows(cur, x, n, E, m.outNorm, eps)
			s.head(cur, n, b, nil, 0)
			return nil
		},
	})
}
