package runtime

import (
	"slices"

	"github.com/ggufy/ggufy/runtime/kernels"
)

// Feed-forward blocks: llm_graph_context::build_ffn and build_moe_ffn of llama.cpp v0.5.0
// (src/llama-graph.cpp, MIT License) for the activations the supported families use.

// ffnGLU is build_ffn with a parallel gate (LLM_FFN_PAR): up and gate projections of x (plus
// optional biases), act(gate) * up, then down. act is swigluRow (LLM_FFN_SILU) or gegluRow
// (LLM_FFN_GELU). dst gets n rows of the down projection's width.
func (s *Session) ffnGLU(dst, x []float32, n int, up, gate, down *Tensor, upB, gateB, downB []float32, act func(y, x, g []float32)) {
	nff := up.Rows()
	u := s.sc.ff1[:n*nff]
	g := s.sc.ff2[:n*nff]
	s.linearN(x, n, []proj{{up, upB, u}, {gate, gateB, g}})
	s.parallel(n, func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			act(g[i*nff:(i+1)*nff], g[i*nff:(i+1)*nff], u[i*nff:(i+1)*nff])
		}
	})
	s.linear(dst, g, n, down, downB)
}

// ffnSwiGLUFused is build_ffn(up, no gate, down, LLM_FFN_SWIGLU, LLM_FFN_SEQ) as Phi-3 uses it:
// up produces [gate | up] per row and ggml_swiglu multiplies silu(first half) by the second.
func (s *Session) ffnSwiGLUFused(dst, x []float32, n int, up, down *Tensor) {
	n2 := up.Rows()
	nff := n2 / 2
	u := s.sc.ff1[:n*n2]
	h := s.sc.ff2[:n*nff]
	s.linear(u, x, n, up, nil)
	s.parallel(n, func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			r := u[i*n2 : (i+1)*n2]
			swigluRow(h[i*nff:(i+1)*nff], r[:nff], r[nff:])
		}
	})
	s.linear(dst, h, n, down, nil)
}

// ffnGELU is build_ffn(up, no gate, down, LLM_FFN_GELU, LLM_FFN_SEQ) with biases (GPT-2).
func (s *Session) ffnGELU(dst, x []float32, n int, up, down *Tensor, upB, downB []float32) {
	nff := up.Rows()
	u := s.sc.ff1[:n*nff]
	s.linear(u, x, n, up, upB)
	s.parallel(n, func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			geluRow(u[i*nff:(i+1)*nff], u[i*nff:(i+1)*nff])
		}
	})
	s.linear(dst, u, n, down, downB)
}

// moeScratch holds the routing and per-expert buffers of a mixture-of-experts layer.
type moeScratch struct {
	probs  []float32 // [ub][nExpert]: router logits, then probabilities
	sel    []int32   // [ub][nUsed]: chosen experts, in argsort order
	wts    []float32 // [ub][nUsed]
	order  []int32   // argsort scratch [nExpert]
	slots  []int32   // (token*nUsed + k) per expert, grouped
	starts []int     // [nExpert+1] offsets into slots
	fill   []int     // [nExpert] grouping cursor
	xg     []float32 // gathered inputs [ub][maxCols]
	up, gt []float32 // [ub][nff]
	outs   []float32 // [ub*nUsed][nEmbd]: each chosen expert's weighted output
	shared []float32 // [ub][nEmbd]: the shared expert's output
}

func newMoeScratch(ub int, hp *HParams, maxRows int) moeScratch {
	return moeScratch{
		probs:  make([]float32, ub*hp.NExpert),
		sel:    make([]int32, ub*hp.NExpertUsed),
		wts:    make([]float32, ub*hp.NExpertUsed),
		order:  make([]int32, hp.NExpert),
		slots:  make([]int32, ub*hp.NExpertUsed),
		starts: make([]int, hp.NExpert+1),
		fill:   make([]int, hp.NExpert),
		xg:     make([]float32, ub*maxRows),
		up:     make([]float32, ub*maxRows),
		gt:     make([]float32, ub*maxRows),
		outs:   make([]float32, ub*hp.NExpertUsed*hp.NEmbd),
		shared: make([]float32, ub*hp.NEmbd),
	}
}

// moeFFN is build_moe_ffn with softmax gating, SiLU experts with separate gate and up tensors and
// no biases: router probabilities, the top n_expert_used experts (argsort descending), their
// weights (normalized over the chosen ones when normW, then scaled by wScale unless it is 0 or
// 1), the experts' SwiGLU FFNs, the weighted outputs added in the order of the choice.
func (s *Session) moeFFN(dst, x []float32, n int, ly *layer, normW bool, wScale float32) {
	hp := s.m.HParams
	E := hp.NEmbd
	ne, nu := hp.NExpert, hp.NExpertUsed
	ms := &s.sc.moe
	probs := ms.probs[:n*ne]
	s.linear(probs, x, n, ly.gateInp, nil)
	for t := range n {
		row := probs[t*ne : (t+1)*ne]
		softMax(row, row)
		ord := ms.order[:ne]
		for i := range ord {
			ord[i] = int32(i)
		}
		// ggml_argsort (GGML_SORT_ORDER_DESC) then the first n_expert_used
		slices.SortStableFunc(ord, func(a, b int32) int {
			switch {
			case row[a] > row[b]:
				return -1
			case row[a] < row[b]:
				return 1
			}
			return 0
		})
		sel := ms.sel[t*nu : (t+1)*nu]
		w := ms.wts[t*nu : (t+1)*nu]
		for k := range nu {
			sel[k] = ord[k]
			w[k] = row[ord[k]]
		}
		if normW {
			// ggml_sum_rows (double accumulation), clamp to the smallest normal fp16, ggml_div
			var sum float64
			for _, v := range w {
				sum += float64(v)
			}
			ws := max(float32(sum), 6.103515625e-5)
			for k := range w {
				w[k] /= ws
			}
		}
		if wScale != 0 && wScale != 1 {
			for k := range w {
				w[k] *= wScale
			}
		}
	}
	// group the (token, k) slots by expert
	starts := ms.starts[:ne+1]
	clear(starts)
	for _, e := range ms.sel[:n*nu] {
		starts[e+1]++
	}
	for e := range ne {
		starts[e+1] += starts[e]
	}
	fill := ms.fill[:ne]
	copy(fill, starts[:ne])
	// slot order within an expert as llama-imatrix visits them: by rank k, then by token
	for k := range nu {
		for t := range n {
			i := t*nu + k
			e := ms.sel[i]
			ms.slots[fill[e]] = int32(i)
			fill[e]++
		}
	}
	outs := ms.outs[:n*nu*E]
	for e := range ne {
		slots := ms.slots[starts[e]:starts[e+1]]
		m := len(slots)
		if m == 0 {
			continue
		}
		cols := ly.upExps.Cols()
		xg := ms.xg[:m*cols]
		for j, sl := range slots {
			t := int(sl) / nu
			copy(xg[j*cols:(j+1)*cols], x[t*cols:(t+1)*cols])
		}
		nff := ly.upExps.Rows()
		up := ms.up[:m*nff]
		gt := ms.gt[:m*nff]
		if s.imat != nil {
			s.imat.expert(ly.upExps, e, xg, m)
			s.imat.expert(ly.gateExps, e, xg, m)
		}
		act := s.quantize(xg, m, cols, ly.upExps.Type)
		s.mul(up, act, m, ly.upExps, e, nil)
		atU, _ := kernels.ActivationType(ly.upExps.Type)
		if atG, _ := kernels.ActivationType(ly.gateExps.Type); atG != atU {
			act = s.quantize(xg, m, cols, ly.gateExps.Type)
		}
		s.mul(gt, act, m, ly.gateExps, e, nil)
		s.parallel(m, func(i0, i1 int) {
			for i := i0; i < i1; i++ {
				swigluRow(gt[i*nff:(i+1)*nff], gt[i*nff:(i+1)*nff], up[i*nff:(i+1)*nff])
			}
		})
		if s.imat != nil {
			s.imat.expert(ly.downExps, e, gt, m)
		}
		down := ms.xg[:m*E]
		act = s.quantize(gt, m, nff, ly.downExps.Type)
		s.mul(down, act, m, ly.downExps, e, nil)
		for j, sl := range slots {
			o := outs[int(sl)*E : (int(sl)+1)*E]
			wt := ms.wts[sl]
			for i, v := range down[j*E : (j+1)*E] {
				o[i] = v * wt
			}
		}
	}
	for t := range n {
		d := dst[t*E : (t+1)*E]
		copy(d, outs[t*nu*E:(t*nu+1)*E])
		for k := 1; k < nu; k++ {
			addTo(d, outs[(t*nu+k)*E:(t*nu+k+1)*E])
		}
	}
}

// sharedExpert is Qwen2-MoE's shared expert: a SwiGLU FFN scaled by sigmoid(gate_inp_shexp·x),
// the sigmoid computed as ggml_silu(g)/g, added to moe (n rows).
func (s *Session) sharedExpert(moe, x []float32, n int, ly *layer) {
	E := s.m.HParams.NEmbd
	g := s.sc.moe.probs[:n]
	s.linear(g, x, n, ly.gateInpShexp, nil)
	out := s.sc.moe.shared[:n*E]
	s.ffnGLU(out, x, n, ly.upShexp, ly.gateShexp, ly.downShexp, nil, nil, nil, swigluRow)
	for t := range n {
		gv := g[t]
		gate := siluf(gv) / gv
		o := out[t*E : (t+1)*E]
		m := moe[t*E : (t+1)*E]
		for i, v := range o {
			m[i] += v * gate
		}
	}
}
