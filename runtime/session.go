package runtime

import (
	"errors"
	"fmt"

	"github.com/ggufy/ggufy/runtime/kernels"
)

// Session evaluates one sequence on a Model: it owns the KV cache, the scratch buffers (sized
// once, so decoding allocates nothing per token) and a worker pool. A Session is not safe for
// concurrent use; several Sessions may share a Model.
type Session struct {
	m     *Model
	opts  Options
	pool  *kernels.Pool
	nCtx  int // KV cache capacity in tokens
	nPast int // tokens in the cache
	kv    []kvCache
	ropes []rope // per layer
	sc    scratch
	imat  *imatrixCollector

	attnWork []*attnWork
	ropeBuf  [][]float32 // per worker cos/sin cache
}

// scratch holds the activations of one micro-batch.
type scratch struct {
	x, cur, tmp     []float32 // [ub][nEmbd]
	q, k, v, qkv    []float32
	attn            []float32 // [ub][nHead*dv]
	ff1, ff2        []float32 // [ub][max FFN rows]
	act             []byte    // converted activations
	logits          []float32 // [logitRows][nVocab]
	moe             moeScratch
	out             []int // output row indices of the micro-batch
	pos             []int32
	tokens          []int32
	ubatch          int
	logitRows       int
	maxFF, maxActRB int
}

// logitGroup is how many output rows the output head computes at once (bounds the logits buffer
// for vocabularies of 256k tokens).
const logitGroup = 64

// NewSession creates a session with a KV cache of opts' Ctx tokens.
func (m *Model) NewSession(opts ...Option) (*Session, error) {
	o := NewOptions(opts...)
	return m.newSession(o)
}

func (m *Model) newSession(o Options) (*Session, error) {
	if m.fam == nil {
		return nil, errors.New("runtime: model is not loaded")
	}
	hp := m.HParams
	if o.Ctx > 1<<20 {
		return nil, fmt.Errorf("runtime: context of %d tokens is too large", o.Ctx)
	}
	s := &Session{m: m, opts: o, nCtx: o.Ctx}
	ub := min(o.Batch, o.UBatch, o.Ctx)
	s.sc.ubatch = ub
	E := hp.NEmbd
	maxH, maxKV := 0, 0
	for il := range hp.NLayer {
		maxH = max(maxH, hp.NHead[il])
		maxKV = max(maxKV, hp.NHeadKV[il])
	}
	dk, dv := hp.HeadDimK, hp.HeadDimV
	// widest matrix rows and activation rows over all weights
	maxRows, maxAct := E, 0
	for _, t := range m.Tensors {
		if len(t.Dims) < 2 || t.Name == "token_embd.weight" || t.Name == "output.weight" || t.Name == "position_embd.weight" {
			continue
		}
		if !kernels.Supported(t.Type) {
			continue
		}
		maxRows = max(maxRows, t.Rows(), t.Cols())
		if as, err := kernels.ActivationRowSize(t.Type, t.Cols()); err == nil {
			maxAct = max(maxAct, as)
		}
	}
	if as, err := kernels.ActivationRowSize(m.output.Type, m.output.Cols()); err == nil {
		maxAct = max(maxAct, as)
	}
	s.sc.maxFF, s.sc.maxActRB = maxRows, maxAct
	s.sc.x = make([]float32, ub*E)
	s.sc.cur = make([]float32, ub*max(E, maxH*dv))
	s.sc.tmp = make([]float32, ub*E)
	s.sc.q = make([]float32, ub*maxH*dk)
	s.sc.k = make([]float32, ub*maxKV*dk)
	s.sc.v = make([]float32, ub*maxKV*dv)
	s.sc.qkv = make([]float32, ub*(maxH*dk+maxKV*(dk+dv)))
	s.sc.attn = make([]float32, ub*maxH*dv)
	s.sc.ff1 = make([]float32, ub*maxRows)
	s.sc.ff2 = make([]float32, ub*maxRows)
	s.sc.act = make([]byte, ub*maxAct)
	s.sc.logitRows = min(ub, logitGroup)
	s.sc.logits = make([]float32, s.sc.logitRows*m.nVocab)
	s.sc.out = make([]int, 0, ub)
	s.sc.pos = make([]int32, ub)
	s.sc.tokens = make([]int32, ub)
	if hp.NExpert > 0 {
		s.sc.moe = newMoeScratch(ub, hp, maxRows)
	}
	s.kv = make([]kvCache, hp.NLayer)
	for il := range hp.NLayer {
		nk, nv := hp.NHeadKV[il]*o.Ctx*dk, hp.NHeadKV[il]*o.Ctx*dv
		if o.KVF32 {
			s.kv[il] = kvCache{k32: make([]float32, nk), v32: make([]float32, nv)}
		} else {
			s.kv[il] = kvCache{k: make([]uint16, nk), v: make([]uint16, nv)}
		}
	}
	s.pool = kernels.NewPool(o.Threads)
	s.attnWork = make([]*attnWork, s.pool.Size())
	s.ropeBuf = make([][]float32, s.pool.Size())
	group := maxH / max(1, maxKV)
	for i := range s.attnWork {
		s.attnWork[i] = &attnWork{
			kf:  make([]float32, o.Ctx*dk),
			vt:  make([]float32, dv*o.Ctx),
			qg:  make([]float32, group*faTileQ*dk),
			sc:  make([]float32, group*faTileQ*o.Ctx),
			og:  make([]float32, group*faTileQ*dv),
			inv: make([]float32, group*faTileQ),
			q16: make([]uint16, dk),
			a16: make([]uint16, dv),
		}
		s.ropeBuf[i] = make([]float32, max(dk, 2))
	}
	s.ropes = make([]rope, hp.NLayer)
	for il := range hp.NLayer {
		s.ropes[il] = m.layerRope(il, o.Ctx)
	}
	return s, nil
}

// layerRope is the rope of layer il for a context of nCtx tokens: the context's parameters
// (llama_context), the layer's base and scale (get_rope_freq_base/scale: the SWA values on
// sliding-window layers of families that have them) and its frequency factors (get_rope_factors).
func (m *Model) layerRope(il, nCtx int) rope {
	hp := m.HParams
	freqBase, freqScale, ext, attn, bf, bs, nOrig := hp.contextRope()
	if m.fam.swaRope && hp.IsSWA[il] {
		freqBase, freqScale = hp.RopeFreqBaseSWA, hp.RopeFreqScaleSWA
	}
	var ff []float32
	if m.fam.ropeFactors {
		switch {
		case m.ropeFreqs != nil:
			ff = m.ropeFreqs
		case padTo(nCtx, 256) > hp.NCtxOrigYarn:
			ff = m.ropeLong
		default:
			ff = m.ropeShort
		}
	}
	return newRope(hp.NRot, hp.RopeType, nOrig, freqBase, freqScale, ext, attn, bf, bs, ff)
}

func padTo(n, p int) int { return (n + p - 1) / p * p }

// Close stops the session's workers.
func (s *Session) Close() {
	if s.pool != nil {
		s.pool.Close()
		s.pool = nil
	}
}

// Model returns the session's model.
func (s *Session) Model() *Model { return s.m }

// Options returns the session's options.
func (s *Session) Options() Options { return s.opts }

// Reset empties the KV cache (llama_memory_clear).
func (s *Session) Reset() { s.nPast = 0 }

// Pos is the number of tokens in the KV cache: the position of the next token.
func (s *Session) Pos() int { return s.nPast }

// ubatch is one micro-batch: tokens at consecutive positions, and the rows whose logits are
// wanted.
type ubatch struct {
	tokens []int32
	pos0   int
	out    []int // ascending indices into tokens
	emit   func(row int, logits []float32) error
	err    error
}

// Decode evaluates tokens at the next positions of the sequence, appending them to the KV cache.
// For each index in outputs (ascending indices into tokens) it calls emit with that token's
// logits; the slice is valid only during the call.
func (s *Session) Decode(tokens []int32, outputs []int, emit func(i int, logits []float32) error) (err error) {
	if s.pool == nil {
		return errors.New("runtime: session is closed")
	}
	if s.nPast+len(tokens) > s.nCtx {
		return fmt.Errorf("runtime: %d tokens do not fit the context (%d of %d used)", len(tokens), s.nPast, s.nCtx)
	}
	nv := int32(s.m.nVocab)
	for _, t := range tokens {
		if t < 0 || t >= int32(s.m.Tensors["token_embd.weight"].Rows()) || t >= nv {
			return fmt.Errorf("runtime: token id %d out of range [0, %d)", t, nv)
		}
	}
	for i, o := range outputs {
		if o < 0 || o >= len(tokens) || (i > 0 && o <= outputs[i-1]) {
			return fmt.Errorf("runtime: output index %d not ascending in [0, %d)", o, len(tokens))
		}
	}
	defer func() {
		if r := recover(); r != nil {
			ke, ok := r.(kernelError)
			if !ok {
				panic(r)
			}
			err = ke.err
		}
	}()
	ubs := min(s.opts.Batch, s.sc.ubatch)
	oi := 0
	for i0 := 0; i0 < len(tokens); i0 += ubs {
		i1 := min(len(tokens), i0+ubs)
		b := ubatch{tokens: tokens[i0:i1], pos0: s.nPast}
		s.sc.out = s.sc.out[:0]
		for oi < len(outputs) && outputs[oi] < i1 {
			s.sc.out = append(s.sc.out, outputs[oi]-i0)
			oi++
		}
		b.out = s.sc.out
		if emit != nil {
			b.emit = func(row int, logits []float32) error { return emit(i0+row, logits) }
		}
		if err := s.m.fam.forward(s, &b); err != nil {
			return err
		}
		if b.err != nil {
			return b.err
		}
		s.nPast += len(b.tokens)
	}
	return nil
}

// Logits evaluates tokens from position 0 (the cache is cleared first) and returns the logits of
// every position.
func (s *Session) Logits(tokens []int32) ([][]float32, error) {
	s.Reset()
	out := make([]int, len(tokens))
	for i := range out {
		out[i] = i
	}
	res := make([][]float32, len(tokens))
	err := s.Decode(tokens, out, func(i int, l []float32) error {
		res[i] = append([]float32(nil), l...)
		return nil
	})
	return res, err
}

// parallel splits [0, n) into contiguous ranges over the pool's workers.
func (s *Session) parallel(n int, fn func(i0, i1 int)) {
	parts := min(s.pool.Size(), n)
	if parts <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	s.pool.Run(parts, func(p int) { fn(n*p/parts, n*(p+1)/parts) })
}

// embed looks up the token embeddings of the batch into x (ggml_get_rows, dequantizing).
func (s *Session) embed(x []float32, b *ubatch) {
	E := s.m.HParams.NEmbd
	te := s.m.tokEmbd
	s.parallel(len(b.tokens), func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			check(te.row(x[i*E:(i+1)*E], int(b.tokens[i])))
		}
	})
}

// rmsNormRows applies rmsNorm with weight w to n rows of width d.
func (s *Session) rmsNormRows(dst, src []float32, n, d int, w []float32, eps float32) {
	s.parallel(n, func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			rmsNorm(dst[i*d:(i+1)*d], src[i*d:(i+1)*d], w, eps)
		}
	})
}

// normRows applies layerNorm with weight w and bias b to n rows of width d.
func (s *Session) normRows(dst, src []float32, n, d int, w, b []float32, eps float32) {
	s.parallel(n, func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			layerNorm(dst[i*d:(i+1)*d], src[i*d:(i+1)*d], w, b, eps)
		}
	})
}

// headNormRows applies rmsNorm with weight w to every head (width d) of n rows of nHead heads
// (the q/k norms of qwen3 and gemma3).
func (s *Session) headNormRows(x []float32, n, nHead, d int, w []float32, eps float32) {
	s.rmsNormRows(x, x, n*nHead, d, w, eps)
}

// ropeRows rotates nHead heads of width d of each of n rows; row i is at position pos0+i.
func (s *Session) ropeRows(x []float32, n, nHead, d, pos0 int, r *rope) {
	if r.mode == ropeNone {
		return
	}
	parts := min(s.pool.Size(), n)
	s.pool.Run(parts, func(p int) {
		cache := s.ropeBuf[p]
		for i := n * p / parts; i < n*(p+1)/parts; i++ {
			r.fill(cache, int32(pos0+i), d)
			r.apply(x[i*nHead*d:(i+1)*nHead*d], nHead, d, cache)
		}
	})
}

// addRows adds src to dst over n rows of width d.
func (s *Session) addRows(dst, src []float32, n, d int) {
	addTo(dst[:n*d], src[:n*d])
}

// selectOutputs keeps only the rows of b.out in each buffer (width d each), as the graphs'
// ggml_get_rows(cur, inp_out_ids) before the last layer's feed-forward, and returns their
// number.
func (s *Session) selectOutputs(b *ubatch, d []int, bufs ...[]float32) int {
	for k, i := range b.out {
		if k == i {
			continue
		}
		for j, buf := range bufs {
			w := d[j]
			copy(buf[k*w:(k+1)*w], buf[i*w:(i+1)*w])
		}
	}
	return len(b.out)
}

// head computes the logits of the n output rows of x (already normalized): output.weight (plus
// bias), optional final softcapping, then emits them in groups.
func (s *Session) head(x []float32, n int, b *ubatch, outB []float32, finalSoftcap float32) {
	E := s.m.HParams.NEmbd
	nv := s.m.nVocab
	g := s.sc.logitRows
	for r0 := 0; r0 < n; r0 += g {
		r1 := min(n, r0+g)
		lg := s.sc.logits[:(r1-r0)*nv]
		s.linear(lg, x[r0*E:r1*E], r1-r0, s.m.output, outB)
		if finalSoftcap != 0 {
			s.parallel(r1-r0, func(i0, i1 int) {
				for i := i0; i < i1; i++ {
					softcap(lg[i*nv:(i+1)*nv], finalSoftcap)
				}
			})
		}
		if b.emit == nil {
			continue
		}
		for r := r0; r < r1; r++ {
			if err := b.emit(b.out[r], lg[(r-r0)*nv:(r-r0+1)*nv]); err != nil {
				b.err = err
				return
			}
		}
	}
}
