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

// attnSublayer is the attention half of a pre-norm layer, x to cur (n rows): RMSNorm by
// attn_norm, the Q/K/V projections, with qkNorm the RMSNorm of every query and key head
// (attn_q_norm, attn_k_norm) before RoPE, then selfAttention.
func (s *Session) attnSublayer(cur, x []float32, ly *layer, il, n, pos0 int, ap attnParams, qkNorm bool) {
	hp := s.m.HParams
	eps := hp.NormRMSEps
	s.rmsNormRows(cur, x, n, hp.NEmbd, ly.attnNorm, eps)
	q, k, v := s.qkv(ly, il, cur, n)
	if qkNorm {
		s.headNormRows(q, n, hp.NHead[il], hp.HeadDimK, ly.qNorm, eps)
		s.headNormRows(k, n, hp.NHeadKV[il], hp.HeadDimK, ly.kNorm, eps)
	}
	s.selfAttention(cur, ly, il, q, k, v, n, pos0, ap)
}

// preNorm is what a family puts into the pre-norm RMSNorm decoder that llama.cpp's llama, gemma,
// phi3, qwen2, qwen2moe, qwen3 and qwen3moe graphs each write out:
//
//	x = token embeddings (times sqrt(n_embd) for gemma)
//	every layer: x += attention(rms_norm(x)·attn_norm); x += ffn(rms_norm(x)·ffn_norm)
//	logits = output(rms_norm(x)·output_norm) (+ output bias)
//
// After the last layer's attention only the rows whose outputs are wanted go on (inp_out_ids).
type preNorm struct {
	scaleEmbd bool                                                 // embeddings times sqrt(n_embd) (gemma)
	attn      attnParams                                           // every layer's attention settings
	qkNorm    bool                                                 // RMSNorm of every query and key head before RoPE
	ffn       func(s *Session, dst, x []float32, n int, ly *layer) // a layer's FFN of n rows of x into dst
	outB      []float32                                            // output bias, or nil
}

// preNormForward runs the pre-norm RMSNorm decoder g on the micro-batch b.
func (s *Session) preNormForward(b *ubatch, g preNorm) error {
	m := s.m
	hp := m.HParams
	n, E := len(b.tokens), hp.NEmbd
	eps := hp.NormRMSEps
	x, cur, ffo := s.sc.x, s.sc.cur, s.sc.tmp
	if g.scaleEmbd {
		s.embedScaled(x, b)
	} else {
		s.embed(x, b)
	}
	for il := range hp.NLayer {
		ly := &m.layers[il]
		s.attnSublayer(cur, x, ly, il, n, b.pos0, g.attn, g.qkNorm)
		if il == hp.NLayer-1 {
			if n = s.selectOutputs(b, []int{E, E}, cur, x); n == 0 {
				return nil
			}
		}
		s.addRows(x, cur, n, E) // ffn_inp
		s.rmsNormRows(cur, x, n, E, ly.ffnNorm, eps)
		g.ffn(s, ffo, cur, n, ly)
		s.addRows(x, ffo, n, E)
	}
	s.rmsNormRows(cur, x, n, E, m.outNorm, eps)
	s.head(cur, n, b, g.outB, 0)
	return nil
}

// commonTensors loads what every family has: token embeddings, the output norm and the output
// matrix (or tied embeddings).
func commonTensors(m *Model, l *loader) {
	E := m.HParams.NEmbd
	m.tokEmbd = l.tokenEmbd(E)
	m.outNorm = l.vec("output_norm.weight", true, E)
	m.output = l.outputOrTied(E)
}

// attnTensors loads a layer's attention: attn_norm, the Q/K/V projections and attn_output (with
// its optional bias).
func attnTensors(m *Model, l *loader, ly *layer, il int) {
	hp := m.HParams
	E := hp.NEmbd
	nq := hp.HeadDimK * hp.NHead[il]
	ly.attnNorm = l.vec(blk(il, "attn_norm.weight"), true, E)
	l.qkv(ly, il, E, nq, hp.HeadDimK*hp.NHeadKV[il], hp.HeadDimV*hp.NHeadKV[il])
	ly.wo = l.weight(blk(il, "attn_output.weight"), true, hp.HeadDimV*hp.NHead[il], E)
	ly.bo = l.vec(blk(il, "attn_output.bias"), false, E)
}

// denseFFNTensors loads ffn_norm and a gated FFN of width nff.
func denseFFNTensors(m *Model, l *loader, ly *layer, il, nff int) {
	E := m.HParams.NEmbd
	ly.ffnNorm = l.vec(blk(il, "ffn_norm.weight"), true, E)
	ly.ffnGate = l.weight(blk(il, "ffn_gate.weight"), true, E, nff)
	ly.ffnDown = l.weight(blk(il, "ffn_down.weight"), true, nff, E)
	ly.ffnUp = l.weight(blk(il, "ffn_up.weight"), true, E, nff)
}

// moeTensors loads ffn_norm, the router and the experts of width nff.
func moeTensors(m *Model, l *loader, ly *layer, il, nff int) {
	hp := m.HParams
	E := hp.NEmbd
	ly.ffnNorm = l.vec(blk(il, "ffn_norm.weight"), true, E)
	ly.gateInp = l.weight(blk(il, "ffn_gate_inp.weight"), true, E, hp.NExpert)
	ly.gateExps = l.weight(blk(il, "ffn_gate_exps.weight"), true, E, nff, hp.NExpert)
	ly.downExps = l.weight(blk(il, "ffn_down_exps.weight"), true, nff, E, hp.NExpert)
	ly.upExps = l.weight(blk(il, "ffn_up_exps.weight"), true, E, nff, hp.NExpert)
}

// expertFF is the expert width of qwen2moe/qwen3moe: expert_feed_forward_length, else
// n_ff / n_expert_used.
func expertFF(hp *HParams, il int) int {
	if hp.NFFExp > 0 {
		return hp.NFFExp
	}
	return hp.NFF[il] / hp.NExpertUsed
}

// rmsEps reads attention.layer_norm_rms_epsilon (required).
func rmsEps(h *HParams, r *metaReader) error {
	r.f32("attention.layer_norm_rms_epsilon", &h.NormRMSEps, true)
	return nil
}

// needExperts checks that a MoE family has experts.
func needExperts(h *HParams, r *metaReader) {
	if h.NExpert == 0 || h.NExpertUsed == 0 {
		r.fail(r.key("expert_count"), h.Arch+" needs experts")
	}
}

// commonTensorsTied is commonTensors for families whose output is always the token embeddings
// (gemma, gemma2), even when the file has an output.weight.
func commonTensorsTied(m *Model, l *loader) {
	E := m.HParams.NEmbd
	m.tokEmbd = l.tokenEmbd(E)
	m.outNorm = l.vec("output_norm.weight", true, E)
	m.output = l.weight("token_embd.weight", true, E, m.nVocab)
}

// commonTensorsUntied is commonTensors for families whose output matrix is required.
func commonTensorsUntied(m *Model, l *loader) {
	E := m.HParams.NEmbd
	m.tokEmbd = l.tokenEmbd(E)
	m.outNorm = l.vec("output_norm.weight", true, E)
	m.output = l.weight("output.weight", true, E, m.nVocab)
}

// layerAttn returns the attention settings of layer il: the scale, the softcap of families that
// cap attention logits, and the window of sliding-window layers.
func layerAttn(hp *HParams, il int, scale float32) attnParams {
	ap := attnParams{scale: scale}
	if hp.AttnSoftcap {
		ap.softcap = hp.AttnSoftcapVal
	}
	if hp.SWAType == swaStandard && hp.IsSWA[il] {
		ap.swa = hp.NSWA
	}
	return ap
}
