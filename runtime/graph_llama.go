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
		nff := hp.NFF[il]
		if hp.NExpert == 0 {
			denseFFNTensors(m, l, ly, il, nff)
			ly.ffnGateB = l.vec(blk(il, "ffn_gate.bias"), false, nff)
			ly.ffnDownB = l.vec(blk(il, "ffn_down.bias"), false, E)
			ly.ffnUpB = l.vec(blk(il, "ffn_up.bias"), false, nff)
		} else {
			moeTensors(m, l, ly, il, nff)
		}
	}
}

func llamaForward(s *Session, b *ubatch) error {
	return s.preNormForward(b, preNorm{
		attn: attnParams{scale: 1 / sqrtf(float32(s.m.HParams.HeadDimV))},
		ffn: func(s *Session, dst, x []float32, n int, ly *layer) {
			if ly.gateInp == nil {
				s.ffnGLU(dst, x, n, ly.ffnUp, ly.ffnGate, ly.ffnDown, ly.ffnUpB, ly.ffnGateB, ly.ffnDownB, swigluRow)
			} else {
				s.moeFFN(dst, x, n, ly, true, 0)
			}
		},
	})
}
