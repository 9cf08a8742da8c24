package runtime

import "fmt"

// The gpt2 graph (src/models/gpt2.cpp of llama.cpp v0.5.0, MIT License): learned position
// embeddings, LayerNorm with bias, a fused QKV projection with bias, no RoPE, and a GELU FFN
// (ggml's fp16 GELU table) with biases.

func init() {
	register(&family{
		arch:     "gpt2",
		ropeType: ropeNone,
		hparams: func(h *HParams, r *metaReader) error {
			r.f32("attention.layer_norm_epsilon", &h.NormEps, true)
			return nil
		},
		tensors: func(m *Model, l *loader) {
			hp := m.HParams
			E := hp.NEmbd
			m.tokEmbd = l.tokenEmbd(E)
			m.posEmbd = l.get("position_embd.weight", true, E, hp.NCtxTrain)
			m.outNorm = l.vec("output_norm.weight", true, E)
			m.outNrmB = l.vec("output_norm.bias", true, E)
			m.output = l.outputOrTied(E)
			for il := range hp.NLayer {
				ly := &m.layers[il]
				nkv := hp.HeadDimK * hp.NHeadKV[il]
				ly.attnNorm = l.vec(blk(il, "attn_norm.weight"), true, E)
				ly.attnNormB = l.vec(blk(il, "attn_norm.bias"), true, E)
				ly.wqkv = l.weight(blk(il, "attn_qkv.weight"), true, E, E+2*nkv)
				ly.bqkv = l.vec(blk(il, "attn_qkv.bias"), true, E+2*nkv)
				ly.wo = l.weight(blk(il, "attn_output.weight"), true, E, E)
				ly.bo = l.vec(blk(il, "attn_output.bias"), true, E)
				ly.ffnNorm = l.vec(blk(il, "ffn_norm.weight"), true, E)
				ly.ffnNormB = l.vec(blk(il, "ffn_norm.bias"), true, E)
				ly.ffnDown = l.weight(blk(il, "ffn_down.weight"), true, hp.NFF[il], E)
				ly.ffnDownB = l.vec(blk(il, "ffn_down.bias"), true, E)
				ly.ffnUp = l.weight(blk(il, "ffn_up.weight"), true, E, hp.NFF[il])
				ly.ffnUpB = l.vec(blk(il, "ffn_up.bias"), true, hp.NFF[il])
			}
		},
		forward: gpt2Forward,
	})
}

func gpt2Forward(s *Session, b *ubatch) error {
	m := s.m
	hp := m.HParams
	n, E := len(b.tokens), hp.NEmbd
	eps := hp.NormEps
	x, cur, ffo := s.sc.x, s.sc.cur, s.sc.tmp
	if b.pos0+n > m.posEmbd.Rows() {
		return fmt.Errorf("runtime: position %d beyond %q (%d positions)", b.pos0+n-1, m.posEmbd.Name, m.posEmbd.Rows())
	}
	s.embed(x, b)
	pe := s.sc.tmp[:E]
	for i := range n {
		check(m.posEmbd.row(pe, b.pos0+i))
		addTo(x[i*E:(i+1)*E], pe)
	}
	ap := attnParams{scale: 1 / sqrtf(float32(hp.HeadDimV))}
	for il := range hp.NLayer {
		ly := &m.layers[il]
		s.normRows(cur, x, n, E, ly.attnNorm, ly.attnNormB, eps)
		q, k, v := s.qkv(ly, il, cur, n)
		s.selfAttention(cur, ly, il, q, k, v, n, b.pos0, ap)
		if il == hp.NLayer-1 {
			if n = s.selectOutputs(b, []int{E, E}, cur, x); n == 0 {
				return nil
			}
		}
		s.addRows(x, cur, n, E) // ffn_inp
		s.normRows(cur, x, n, E, ly.ffnNorm, ly.ffnNormB, eps)
		s.ffnGELU(ffo, cur, n, ly.ffnUp, ly.ffnDown, ly.ffnUpB, ly.ffnDownB)
		s.addRows(x, ffo, n, E)
	}
	s.normRows(cur, x, n, E, m.outNorm, m.outNrmB, eps)
	s.head(cur, n, b, nil, 0)
	return nil
}
