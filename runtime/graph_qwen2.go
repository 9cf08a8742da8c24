package runtime

// The qwen2 graph (src/models/qwen2.cpp of llama.cpp v0.5.0, MIT License): Qwen 1.5/2/2.5.
// The llama block with Q/K/V biases, NeoX RoPE (with YaRN when configured) and an optional output
// bias.

func init() {
	register(&family{
		arch:     "qwen2",
		ropeType: ropeNeox,
		hparams:  rmsEps,
		tensors: func(m *Model, l *loader) {
			hp := m.HParams
			commonTensors(m, l)
			m.outB = l.vec("output.bias", false, m.nVocab)
			for il := range hp.NLayer {
				ly := &m.layers[il]
				attnTensors(m, l, ly, il)
				denseFFNTensors(m, l, ly, il, hp.NFF[il])
			}
		},
		forward: qwen2Forward,
	})
}

func qwen2Forward(s *Session, b *ubatch) error {
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
		s.addRows(x, cur, n, E)
		s.rmsNormRows(cur, x, n, E, ly.ffnNorm, eps)
		s.ffnGLU(ffo, cur, n, ly.ffnUp, ly.ffnGate, ly.ffnDown, nil, nil, nil, swigluRow)
		s.addRows(x, ffo, n, E)
	}
	s.rmsNormRows(cur, x, n, E, m.outNorm, eps)
	s.head(cur, n, b, m.outB, 0)
	return nil
}
