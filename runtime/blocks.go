package runtime

// Building blocks the family graphs share (llm_graph_context's build_qkv, build_attn and the
// residual pattern of the pre-norm decoder layer).

// qkv computes the query, key and value projections of n rows of cur (build_qkv): a fused
// attn_qkv split into its three parts, or separate attn_q/k/v, each with its optional bias. The
// results are token-major: q [n][nHead*dk], k [n][nKV*dk], v [n][nKV*dv].
func (s *Session) qkv(ly *layer, il int, cur []float32, n int) (q, k, v []float32) {
	hp := s.m.HParams
	nq := hp.NHead[il] * hp.HeadDimK
	nk := hp.NHeadKV[il] * hp.HeadDimK
	nv := hp.NHeadKV[il] * hp.HeadDimV
	q, k, v = s.sc.q[:n*nq], s.sc.k[:n*nk], s.sc.v[:n*nv]
	if ly.wqkv != nil {
		w := nq + nk + nv
		all := s.sc.qkv[:n*w]
		s.linear(all, cur, n, ly.wqkv, ly.bqkv)
		for i := range n {
			r := all[i*w : (i+1)*w]
			copy(q[i*nq:(i+1)*nq], r[:nq])
			copy(k[i*nk:(i+1)*nk], r[nq:nq+nk])
			copy(v[i*nv:(i+1)*nv], r[nq+nk:])
		}
		return q, k, v
	}
	s.linearN(cur, n, []proj{{ly.wq, ly.bq, q}, {ly.wk, ly.bk, k}, {ly.wv, ly.bv, v}})
	return q, k, v
}

// selfAttention is the attention sub-block after the projections: RoPE on q and k (when the
// family ropes), the KV cache and flash attention, then the output projection (plus bias) into
// dst [n][nEmbd].
func (s *Session) selfAttention(dst []float32, ly *layer, il int, q, k, v []float32, n, pos0 int, ap attnParams) {
	hp := s.m.HParams
	nh, nkv := hp.NHead[il], hp.NHeadKV[il]
	if hp.RopeType != ropeNone {
		s.ropeRows(q, n, nh, hp.HeadDimK, pos0, &s.ropes[il])
		s.ropeRows(k, n, nkv, hp.HeadDimK, pos0, &s.ropes[il])
	}
	if ap.qScale != 0 {
		scaleRow(q[:n*nh*hp.HeadDimK], ap.qScale)
	}
	attn := s.sc.attn[:n*nh*hp.HeadDimV]
	s.attention(il, q, k, v, n, pos0, attn, ap)
	s.linear(dst, attn, n, ly.wo, ly.bo)
}

// commonTensors loads what every family has: token embeddings, the output norm and the output
// matrix (or tied embeddings).
func commonTensors(m *Model, l *loader) {
	E := m.HParams.NEmbd
	m.tokEmbd = l.tokenEmbd(E)
	m.outNorm = l.vec("output_norm.weight", true, E)
	m.output = l.outputOrTied(E)
}
