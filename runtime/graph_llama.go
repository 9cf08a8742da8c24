package runtime

// The llama graph (src/models/llama.cpp of llama.cpp v0.5.0, MIT License): Llama 1/2/3,
// Mistral and Mixtral. Pre-norm RMSNorm blocks, RoPE in normal (adjacent pairs) mode with the
// rope_freqs factors of Llama 3, grouped-query attention, SwiGLU FFN or a softmax-routed
// mixture of SwiGLU experts with renormalized weights.

func init() {
	register(&family{
		arch:        "llama",
		ropeType:    ropeNorm,
		ropeFactors: true,
		hparams: func(h *HParams, r *metaReader) error {
			r.f32("attention.layer_norm_rms_epsilon", &h.NormRMSEps, true)
			if h.NRot != h.HeadDimK {
				r.fail(r.key("rope.dimension_count"), "llama needs n_rot equal to the head size")
			}
			return nil
		},
		tensors: llamaTensors,
		forward: llamaForward,
	})
}

func llamaTensors(m *Model, l *loader) {
	hp := m.HParams
	E := hp.NEmbd
	commonTensors(m, l)
	if hp.RopeScaling == ropeScalingLongrope {
		m.ropeLong = l.vec("rope_factors_long.weight", false, hp.NRot/2)
		m.ropeShort = l.vec("rope_factors_short.weight", false, hp.NRot/2)
	} else {
		m.ropeFreqs = l.vec("rope_freqs.weight", false, hp.NRot/2)
	}
	for il := range hp.NLayer {
		ly := &m.layers[il]
		nq := hp.HeadDimK * hp.NHead[il]
		ly.attnNorm = l.vec(blk(il, "attn_norm.weight"), true, E)
		l.qkv(ly, il, E, nq, hp.HeadDimK*hp.NHeadKV[il], hp.HeadDimV*hp.NHeadKV[il])
		ly.wo = l.weight(blk(il, "attn_output.weight"), true, nq, E)
		ly.bo = l.vec(blk(il, "attn_output.bias"), false, E)
		ly.ffnNorm = l.vec(blk(il, "ffn_norm.weight"), true, E)
		nff := hp.NFF[il]
		if hp.NExpert == 0 {
			ly.ffnGate = l.weight(blk(il, "ffn_gate.weight"), true, E, nff)
			ly.ffnDown = l.weight(blk(il, "ffn_down.weight"), true, nff, E)
			ly.ffnUp = l.weight(blk(il, "ffn_up.weight"), true, E, nff)
			ly.ffnGateB = l.vec(blk(il, "ffn_gate.bias"), false, nff)
			ly.ffnDownB = l.vec(blk(il, "ffn_down.bias"), false, E)
			ly.ffnUpB = l.vec(blk(il, "ffn_up.bias"), false, nff)
		} else {
			ly.gateInp = l.weight(blk(il, "ffn_gate_inp.weight"), true, E, hp.NExpert)
			ly.gateExps = l.weight(blk(il, "ffn_gate_exps.weight"), true, E, nff, hp.NExpert)
			ly.downExps = l.weight(blk(il, "ffn_down_exps.weight"), true, nff, E, hp.NExpert)
			ly.upExps = l.weight(blk(il, "ffn_up_exps.weight"), true, E, nff, hp.NExpert)
		}
	}
}

func llamaForward(s *Session, b *ubatch) error {
	m := s.m
	hp := m.HParams
	n, E := len(b.tokens), hp.NEmbd
	eps := hp.NormRMSEps
	x, cur, ffo := s.sc.x, s.sc.cur, s.sc.tmp
	s.embed(x, b)
	ap := attnParams{scale: 1 / sqrtf(float32(hp.HeadDimV))}
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
		s.addRows(x, cur, n, E) // ffn_inp
		s.rmsNormRows(cur, x, n, E, ly.ffnNorm, eps)
		if ly.gateInp == nil {
			s.ffnGLU(ffo, cur, n, ly.ffnUp, ly.ffnGate, ly.ffnDown, ly.ffnUpB, ly.ffnGateB, ly.ffnDownB, swigluRow)
		} else {
			s.moeFFN(ffo, cur, n, ly, true, 0)
		}
		s.addRows(x, ffo, n, E)
	}
	s.rmsNormRows(cur, x, n, E, m.outNorm, eps)
	s.head(cur, n, b, nil, 0)
	return nil
}
