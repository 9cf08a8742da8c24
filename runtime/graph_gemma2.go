package runtime

// The gemma2 graph (src/models/gemma2.cpp of llama.cpp v0.5.0, MIT License): the gemma block with
// post-attention and post-FFN RMSNorms, sliding-window attention on every other layer (window
// 4096 unless given), attention logit softcapping (50) and final logit softcapping (30).

func init() {
	register(&family{
		arch:     "gemma2",
		ropeType: ropeNeox,
		swaRope:  true,
		hparams: func(h *HParams, r *metaReader) error {
			h.SWAType = swaStandard
			h.NSWA = 4096
			h.loadSWAPattern(r, 2)
			h.AttnSoftcap = true
			h.AttnSoftcapVal = 50
			h.FinalSoftcap = 30
			h.RopeFreqBaseSWA = h.RopeFreqBase
			h.RopeFreqScaleSWA = h.RopeFreqScale
			r.f32("rope.freq_base_swa", &h.RopeFreqBaseSWA, false)
			r.u32("attention.sliding_window", &h.NSWA, false)
			r.f32("attention.layer_norm_rms_epsilon", &h.NormRMSEps, true)
			r.f32("attn_logit_softcapping", &h.AttnSoftcapVal, false)
			r.f32("final_logit_softcapping", &h.FinalSoftcap, false)
			h.AttnScale = gemmaAttnScale(h, 46)
			return nil
		},
		tensors: func(m *Model, l *loader) {
			hp := m.HParams
			E := hp.NEmbd
			commonTensorsTied(m, l)
			for il := range hp.NLayer {
				ly := &m.layers[il]
				attnTensors(m, l, ly, il)
				ly.attnPostNorm = l.vec(blk(il, "post_attention_norm.weight"), true, E)
				denseFFNTensors(m, l, ly, il, hp.NFF[il])
				ly.ffnPostNorm = l.vec(blk(il, "post_ffw_norm.weight"), true, E)
			}
		},
		forward: func(s *Session, b *ubatch) error { return gemma2Forward(s, b, false) },
	})
}

// gemmaAttnScale is f_attention_scale of gemma2/gemma3: 1/sqrt(n_embd/n_head) for the 27B model
// (identified by its layer count), else 1/sqrt(head size).
func gemmaAttnScale(h *HParams, layers27B int) float32 {
	if h.NLayer == layers27B {
		return 1 / sqrtf(float32(h.NEmbd/h.NHead[0]))
	}
	return 1 / sqrtf(float32(h.HeadDimK))
}

// gemma2Forward runs gemma2 and, with qkNorm, gemma3 (which adds q/k RMSNorms before RoPE).
func gemma2Forward(s *Session, b *ubatch, qkNorm bool) error {
	m := s.m
	hp := m.HParams
	n, E := len(b.tokens), hp.NEmbd
	eps := hp.NormRMSEps
	x, cur, ffo := s.sc.x, s.sc.cur, s.sc.tmp
	s.embedScaled(x, b)
	for il := range hp.NLayer {
		ly := &m.layers[il]
		ap := layerAttn(hp, il, 1)
		ap.qScale = hp.AttnScale
		s.attnSublayer(cur, x, ly, il, n, b.pos0, ap, qkNorm)
		if il == hp.NLayer-1 {
			if n = s.selectOutputs(b, []int{E, E}, cur, x); n == 0 {
				return nil
			}
		}
		s.rmsNormRows(cur, cur, n, E, ly.attnPostNorm, eps)
		s.addRows(x, cur, n, E) // sa_out
		s.rmsNormRows(cur, x, n, E, ly.ffnNorm, eps)
		s.ffnGLU(ffo, cur, n, ly.ffnUp, ly.ffnGate, ly.ffnDown, nil, nil, nil, gegluRow)
		s.rmsNormRows(ffo, ffo, n, E, ly.ffnPostNorm, eps)
		s.addRows(x, ffo, n, E)
	}
	s.rmsNormRows(cur, x, n, E, m.outNorm, eps)
	s.head(cur, n, b, nil, hp.FinalSoftcap)
	return nil
}
