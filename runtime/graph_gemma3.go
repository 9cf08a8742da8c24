package runtime

// The gemma3 graph (src/models/gemma3.cpp of llama.cpp v0.5.0, MIT License): the gemma2 block
// with RMSNorms of every query and key head before RoPE, no attention softcapping, sliding-window
// layers (five in six by default) with their own RoPE base (rope.freq_base_swa, else 10000), and
// final softcapping only when the metadata asks for it.

func init() {
	register(&family{
		arch:     "gemma3",
		ropeType: ropeNeox,
		swaRope:  true,
		hparams: func(h *HParams, r *metaReader) error {
			if r.u32("attention.sliding_window", &h.NSWA, false) && h.NSWA > 0 {
				h.SWAType = swaStandard
				h.loadSWAPattern(r, 6)
				r.f32("rope.freq_base_swa", &h.RopeFreqBaseSWA, false)
			} else {
				h.SWAType = swaNone
				for i := range h.IsSWA {
					h.IsSWA[i] = false
				}
			}
			h.FinalSoftcap = 0
			r.f32("final_logit_softcapping", &h.FinalSoftcap, false)
			r.f32("attention.layer_norm_rms_epsilon", &h.NormRMSEps, true)
			h.AttnScale = gemmaAttnScale(h, 62)
			return nil
		},
		tensors: func(m *Model, l *loader) {
			hp := m.HParams
			E := hp.NEmbd
			commonTensors(m, l)
			for il := range hp.NLayer {
				ly := &m.layers[il]
				attnTensors(m, l, ly, il)
				ly.attnPostNorm = l.vec(blk(il, "post_attention_norm.weight"), true, E)
				qkNormTensors(m, l, ly, il)
				denseFFNTensors(m, l, ly, il, hp.NFF[il])
				ly.ffnPostNorm = l.vec(blk(il, "post_ffw_norm.weight"), true, E)
			}
		},
		forward: func(s *Session, b *ubatch) error { return gemma2Forward(s, b, true) },
	})
}
