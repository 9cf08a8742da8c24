package runtime

// The gemma graph (src/models/gemma.cpp of llama.cpp v0.5.0, MIT License): Gemma 1. Embeddings
// scaled by sqrt(n_embd), RMSNorm blocks (the converter stores the norm weights plus one), NeoX
// RoPE, Q scaled by 1/sqrt(head size) before attention, GeGLU FFN with ggml's fp16 GELU table,
// output tied to the token embeddings.

func init() {
	register(&family{
		arch:     "gemma",
		ropeType: ropeNeox,
		hparams:  rmsEps,
		tensors: func(m *Model, l *loader) {
			hp := m.HParams
			E := hp.NEmbd
			m.tokEmbd = l.tokenEmbd(E)
			m.outNorm = l.vec("output_norm.weight", true, E)
			m.output = l.weight("token_embd.weight", true, E, m.nVocab)
			for il := range hp.NLayer {
				ly := &m.layers[il]
				attnTensors(m, l, ly, il)
				denseFFNTensors(m, l, ly, il, hp.NFF[il])
			}
		},
		forward: gemmaForward,
	})
}

// embedScaled looks up the embeddings and multiplies them by sqrtf(n_embd) (ggml_scale).
func (s *Session) embedScaled(x []float32, b *ubatch) {
	E := s.m.HParams.NEmbd
	s.embed(x, b)
	scaleRow(x[:len(b.tokens)*E], sqrtf(float32(E)))
}

func gemmaForward(s *Session, b *ubatch) error {
	m := s.m
	hp := m.HParams
	n, E := len(b.tokens), hp.NEmbd
	eps := hp.NormRMSEps
	x, cur, ffo := s.sc.x, s.sc.cur, s.sc.tmp
	s.embedScaled(x, b)
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
		s.addRows(x, cur, n, E) // sa_out
		s.rmsNormRows(cur, x, n, E, ly.ffnNorm, eps)
		s.ffnGLU(ffo, cur, n, ly.ffnUp, ly.ffnGate, ly.ffnDown, nil, nil, nil, gegluRow)
		s.addRows(x, ffo, n, E)
	}
	s.rmsNormRows(cur, x, n, E, m.outNorm, eps)
	s.head(cur, n, b, nil, 0)
	return nil
}
