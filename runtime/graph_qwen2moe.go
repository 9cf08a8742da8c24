package runtime

// The qwen2moe graph (src/models/qwen2moe.cpp of llama.cpp v0.5.0, MIT License): Qwen1.5-MoE and
// Qwen2-MoE. The qwen2 block whose FFN is a softmax-routed mixture of SwiGLU experts (weights not
// renormalized) plus a shared SwiGLU expert gated by sigmoid(ffn_gate_inp_shexp·x).

func init() {
	register(&family{
		arch:     "qwen2moe",
		ropeType: ropeNeox,
		hparams: func(h *HParams, r *metaReader) error {
			r.u32("expert_feed_forward_length", &h.NFFExp, false)
			r.u32("expert_shared_feed_forward_length", &h.NFFShexp, false)
			needExperts(h, r)
			return rmsEps(h, r)
		},
		tensors: func(m *Model, l *loader) {
			hp := m.HParams
			E := hp.NEmbd
			commonTensorsUntied(m, l)
			for il := range hp.NLayer {
				ly := &m.layers[il]
				attnTensors(m, l, ly, il)
				moeTensors(m, l, ly, il, expertFF(hp, il))
				nsh := hp.NFFShexp
				if nsh == 0 {
					nsh = hp.NFF[il]
				}
				ly.gateInpShexp = l.weight(blk(il, "ffn_gate_inp_shexp.weight"), true, E, 1)
				ly.gateShexp = l.weight(blk(il, "ffn_gate_shexp.weight"), true, E, nsh)
				ly.downShexp = l.weight(blk(il, "ffn_down_shexp.weight"), true, nsh, E)
				ly.upShexp = l.weight(blk(il, "ffn_up_shexp.weight"), true, E, nsh)
			}
		},
		forward: func(s *Session, b *ubatch) error {
			return s.preNormForward(b, preNorm{
				attn: attnParams{scale: 1 / sqrtf(float32(s.m.HParams.HeadDimV))},
				ffn: func(s *Session, dst, x []float32, n int, ly *layer) {
					s.moeFFN(dst, x, n, ly, false, 0)
					s.sharedExpert(dst, x, n, ly)
				},
			})
		},
	})
}
