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
		forward: func(s *Session, b *ubatch) error { return qwen3Forward(s, b, false) },
	})
}

// qkNormTensors loads attn_q_norm and attn_k_norm (one weight per head dimension).
func qkNormTensors(m *Model, l *loader, ly *layer, il int) {
	dk := m.HParams.HeadDimK
	ly.kNorm = l.vec(blk(il, "attn_k_norm.weight"), true, dk)
	ly.qNorm = l.vec(blk(il, "attn_q_norm.weight"), true, dk)
}

// qwen3Forward runs qwen3 (moe false) and qwen3moe (moe true: renormalized expert weights).
func qwen3Forward(s *Session, b *ubatch, moe bool) error {
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
		s.headNormRows(q, n, hp.NHead[il], hp.HeadDimK, ly.qNorm, eps)
		s.headNormRows(k, n, hp.NHeadKV[il], hp.HeadDimK, ly.kNorm, eps)
		s.selfAttention(cur, ly, il, q, k, v, n, b.pos0, ap)
		if il == hp.NLayer-1 {
			if n = s.selectOutputs(b, []int{E, E}, cur, x); n == 0 {
				return nil
			}
		}
		s.addRows(x, cur, n, E)
		s.rmsNormRows(cur, x, n, E, ly.ffnNorm, eps)
		if moe {
			s.moeFFN(ffo, cur, n, ly, true, 0)
		} else {
			s.ffnGLU(ffo, cur, n, ly.ffnUp, ly.ffnGate, ly.ffnDown, nil, nil, nil, swigluRow)
		}
		s.addRows(x, ffo, n, E)
	}
	s.rmsNormRows(cur, x, n, E, m.outNorm, eps)
	s.head(cur, n, b, nil, 0)
	return nil
}
