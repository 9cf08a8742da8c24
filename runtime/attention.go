package runtime

import (
	"math"
	"sync/atomic"
	"unsafe"

	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/internal/half"
	"github.com/ggufy/ggufy/runtime/kernels"
)

// Attention as llama.cpp runs it on the CPU with its defaults: an F16 KV cache (K and V rounded to
// fp16 when stored) and flash attention, which "auto" resolves to on the CPU backend
// (llama_context::resolve_fused_ops finds FLASH_ATTN_EXT supported). ggml-cpu then takes one of
// two paths (ggml/src/ggml-cpu/ops.cpp ggml_compute_forward_flash_attn_ext_f16, llama.cpp v0.5.0,
// MIT License):
//
//   - with 64 or more query rows per sequence in the micro-batch (GGML_FA_TILE_Q) it runs
//     ggml_compute_forward_flash_attn_ext_tiled: Q stays float32, K and V are widened from fp16,
//     scores, the softmax (in KV tiles of 64, exp through ggml_v_expf, tile sums added in double)
//     and the weighted sum of V are float32;
//   - otherwise ggml_compute_forward_flash_attn_ext_f16_one_chunk: Q is rounded to fp16, scores
//     are fp16 dot products, the softmax is online per KV cell with expf, and V is accumulated
//     in an fp16 vector (rounded after every update).
//
// Both are reproduced; the tiled path computes its products with the float32 matrix kernels.

const (
	faTileQ  = 64 // GGML_FA_TILE_Q
	faTileKV = 64 // GGML_FA_TILE_KV
)

// attnParams are one layer's attention settings.
type attnParams struct {
	scale   float32 // kq_scale
	softcap float32 // attention logit softcapping (0: none)
	swa     int     // sliding window (0: full attention)
	qScale  float32 // ggml_scale of Q after RoPE (0: none)
}

// kvCache is one layer's cache of one sequence: K and V rows [head][pos][dim], fp16 (llama.cpp's
// default) or float32 (-ctk f32 -ctv f32).
type kvCache struct {
	k, v     []uint16
	k32, v32 []float32
}

// storeKV writes the n new K and V rows (token-major, nKV heads each) at positions pos0..,
// rounded to fp16 for an F16 cache (ggml_set_rows; F16C's round to nearest even).
func (s *Session) storeKV(il int, k, v []float32, n, pos0 int) {
	hp := s.m.HParams
	nkv, dk, dv := hp.NHeadKV[il], hp.HeadDimK, hp.HeadDimV
	c := &s.kv[il]
	for t := range n {
		p := pos0 + t
		for h := range nkv {
			ks := k[(t*nkv+h)*dk : (t*nkv+h+1)*dk]
			vs := v[(t*nkv+h)*dv : (t*nkv+h+1)*dv]
			ko, vo := (h*s.nCtx+p)*dk, (h*s.nCtx+p)*dv
			if c.k32 != nil {
				copy(c.k32[ko:ko+dk], ks)
				copy(c.v32[vo:vo+dv], vs)
				continue
			}
			check(kernels.QuantizeActivations(gguf.TypeF16, u16bytes(c.k[ko:ko+dk]), ks))
			check(kernels.QuantizeActivations(gguf.TypeF16, u16bytes(c.v[vo:vo+dv]), vs))
		}
	}
}

// kRows widens the K rows [j0, j1) of KV head g to float32.
func (c *kvCache) kRows(dst []float32, g, nCtx, dk, j0, j1 int) {
	if c.k32 != nil {
		copy(dst, c.k32[(g*nCtx+j0)*dk:(g*nCtx+j1)*dk])
		return
	}
	for i, h := range c.k[(g*nCtx+j0)*dk : (g*nCtx+j1)*dk] {
		dst[i] = half.F16ToF32(h)
	}
}

// vRowsT widens the V rows [j0, j1) of KV head g to float32, transposed: dst[d*(j1-j0)+j].
func (c *kvCache) vRowsT(dst []float32, g, nCtx, dv, j0, j1 int) {
	n := j1 - j0
	for j := range n {
		o := (g*nCtx + j0 + j) * dv
		if c.k32 != nil {
			for d, x := range c.v32[o : o+dv] {
				dst[d*n+j] = x
			}
			continue
		}
		for d, h := range c.v[o : o+dv] {
			dst[d*n+j] = half.F16ToF32(h)
		}
	}
}

// masked reports whether query position p does not see cache position j (causal mask, plus
// llama_hparams::is_masked_swa for LLAMA_SWA_TYPE_STANDARD).
func masked(p, j, swa int) bool {
	return j > p || (swa > 0 && p-j >= swa)
}

// attention stores the n new K/V rows of layer il and computes the attention output of the n
// queries q (token-major, nHead heads of HeadDimK) into dst (token-major, nHead heads of
// HeadDimV). Query t is at position pos0+t.
func (s *Session) attention(il int, q, k, v []float32, n, pos0 int, dst []float32, ap attnParams) {
	s.storeKV(il, k, v, n, pos0)
	hp := s.m.HParams
	if n >= faTileQ && hp.HeadDimV%8 == 0 {
		s.attnTiled(il, q, n, pos0, dst, ap)
	} else {
		s.attnOneChunk(il, q, n, pos0, dst, ap)
	}
}

// attnWork is one worker's scratch space for the tiled path.
type attnWork struct {
	kf  []float32 // K rows of the KV range, float32 [kv][dk]
	vt  []float32 // V transposed, float32 [dv][kv]
	qg  []float32 // query rows of one KV head's group [head][tok][dk]
	sc  []float32 // scores, then probabilities [head][tok][kv]
	og  []float32 // outputs [head][tok][dv]
	inv []float32 // 1/S per row
	q16 []uint16  // the query in fp16 (one-chunk path)
	a16 []uint16  // the fp16 V accumulator (one-chunk path)
}

func u16bytes(x []uint16) []byte {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 2*len(x))
}

func f32bytes(x []float32) []byte {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 4*len(x))
}

// attnTiled is the float32 path: per KV head and block of up to 64 queries, scores = K·Q with the
// float32 matrix kernel, masking and softcapping, exp in KV tiles of 64 as
// ggml_vec_soft_max_f32 computes it, then V·P and the division by the sum.
func (s *Session) attnTiled(il int, q []float32, n, pos0 int, dst []float32, ap attnParams) {
	hp := s.m.HParams
	nh, nkv := hp.NHead[il], hp.NHeadKV[il]
	dk, dv := hp.HeadDimK, hp.HeadDimV
	group := nh / nkv
	nBlocks := (n + faTileQ - 1) / faTileQ
	items := int32(nkv * nBlocks)
	var next atomic.Int32
	c := &s.kv[il]
	s.pool.Run(s.pool.Size(), func(part int) {
		w := s.attnWork[part]
		for {
			it := int(next.Add(1) - 1)
			if it >= int(items) {
				return
			}
			g, blk := it/nBlocks, it%nBlocks
			t0 := blk * faTileQ
			t1 := min(n, t0+faTileQ)
			nq := t1 - t0
			// the cache range the block's queries see
			kvEnd := pos0 + t1
			kvStart := 0
			if ap.swa > 0 {
				kvStart = max(0, pos0+t0-ap.swa+1)
			}
			kvLen := kvEnd - kvStart
			kf := w.kf[:kvLen*dk]
			c.kRows(kf, g, s.nCtx, dk, kvStart, kvEnd)
			vt := w.vt[:dv*kvLen]
			c.vRowsT(vt, g, s.nCtx, dv, kvStart, kvEnd)
			ncols := group * nq
			qg := w.qg[:ncols*dk]
			for hh := range group {
				h := g*group + hh
				for t := t0; t < t1; t++ {
					copy(qg[(hh*nq+t-t0)*dk:(hh*nq+t-t0+1)*dk], q[(t*nh+h)*dk:(t*nh+h+1)*dk])
				}
			}
			sc := w.sc[:ncols*kvLen]
			if err := kernels.MatMul(nil, sc, kernels.Matrix{Type: gguf.TypeF32, Rows: kvLen, Cols: dk, Data: f32bytes(kf)}, f32bytes(qg), ncols); err != nil {
				panic(err) // shapes are ours
			}
			for r := range ncols {
				p := pos0 + t0 + r%nq
				w.inv[r] = softmaxTiled(sc[r*kvLen:(r+1)*kvLen], kvStart, p, ap)
			}
			og := w.og[:ncols*dv]
			if err := kernels.MatMul(nil, og, kernels.Matrix{Type: gguf.TypeF32, Rows: dv, Cols: kvLen, Data: f32bytes(vt)}, f32bytes(sc), ncols); err != nil {
				panic(err)
			}
			for hh := range group {
				h := g*group + hh
				for t := t0; t < t1; t++ {
					r := hh*nq + t - t0
					o := og[r*dv : (r+1)*dv]
					out := dst[(t*nh+h)*dv : (t*nh+h+1)*dv]
					inv := w.inv[r]
					for d, x := range o {
						out[d] = x * inv
					}
				}
			}
		}
	})
}

// softmaxTiled turns one row of raw scores (cache positions kvStart..) of the query at position p
// into unnormalized probabilities in place and returns 1/S, as the tiled flash attention does:
// scale, softcap (tanh), mask, then per KV tile of 64 (aligned to cache position 0) the running
// maximum, exp(s - M) through ggml_vec_soft_max_f32 over the whole tile, S rescaled on a new
// maximum. Tiles the query sees nothing of are skipped, as ggml skips them.
func softmaxTiled(row []float32, kvStart, p int, ap attnParams) float32 {
	scale := ap.scale
	if ap.softcap != 0 {
		scale /= ap.softcap
	}
	// the cache positions the query sees: [v0, v1)
	v0, v1 := kvStart, min(kvStart+len(row), p+1)
	if ap.swa > 0 {
		v0 = max(v0, p-ap.swa+1)
	}
	negInf := float32(math.Inf(-1))
	M := negInf
	var S float32
	var tile [faTileKV]float32
	for ic := v0 - v0%faTileKV; ic < v1; ic += faTileKV {
		lo, hi := max(ic, v0), min(ic+faTileKV, v1)
		for i := range tile {
			tile[i] = negInf
		}
		tmax := negInf
		for j := lo; j < hi; j++ {
			x := row[j-kvStart] * scale
			if ap.softcap != 0 {
				x = tanhf(x) * ap.softcap
			}
			tile[j-ic] = x
			tmax = max(tmax, x)
		}
		if Mnew := max(M, tmax); Mnew > M {
			// ggml rescales its output accumulator; here the probabilities so far
			ms := expf(M - Mnew)
			scaleRow(row[v0-kvStart:lo-kvStart], ms)
			S *= ms
			M = Mnew
		}
		S = float32(float64(S) + softMaxRow(tile[:], tile[:], M))
		copy(row[lo-kvStart:hi-kvStart], tile[lo-ic:hi-ic])
	}
	clear(row[:max(0, v0-kvStart)])
	clear(row[max(0, v1-kvStart):])
	if S == 0 {
		return 0
	}
	return 1 / S
}

// attnOneChunk is the per-row path for small micro-batches (ggml's one_chunk): for an F16 cache
// Q is rounded to fp16, scores are fp16 dot products and V is accumulated in an fp16 vector; for
// an F32 cache all of it is float32. The softmax is online per KV cell with expf.
func (s *Session) attnOneChunk(il int, q []float32, n, pos0 int, dst []float32, ap attnParams) {
	hp := s.m.HParams
	nh, nkv := hp.NHead[il], hp.NHeadKV[il]
	dk, dv := hp.HeadDimK, hp.HeadDimV
	group := nh / nkv
	c := &s.kv[il]
	rows := n * nh
	scale := ap.scale
	if ap.softcap != 0 {
		scale /= ap.softcap
	}
	parts := min(s.pool.Size(), rows)
	s.pool.Run(parts, func(part int) {
		w := s.attnWork[part]
		for r := rows * part / parts; r < rows*(part+1)/parts; r++ {
			t, h := r/nh, r%nh
			g := h / group
			p := pos0 + t
			qr := q[(t*nh+h)*dk : (t*nh+h+1)*dk]
			out := dst[(t*nh+h)*dv : (t*nh+h+1)*dv]
			if c.k32 != nil {
				oneChunkRowF32(c, w, qr, out, g, p, s.nCtx, scale, ap)
			} else {
				oneChunkRowF16(c, w, qr, out, g, p, s.nCtx, scale, ap)
			}
		}
	})
}

func oneChunkRowF16(c *kvCache, w *attnWork, qr, out []float32, g, p, nCtx int, scale float32, ap attnParams) {
	dk, dv := len(qr), len(out)
	q16, acc := w.q16[:dk], w.a16[:dv]
	for i, x := range qr {
		q16[i] = half.F32ToF16(x)
	}
	clear(acc)
	S := float32(0)
	M := float32(math.Inf(-1))
	for j := 0; j <= p; j++ {
		if masked(p, j, ap.swa) {
			continue
		}
		x := dotF16Rows(c.k[(g*nCtx+j)*dk:(g*nCtx+j+1)*dk], q16) * scale
		if ap.softcap != 0 {
			x = ap.softcap * tanhf(x)
		}
		ms, vs := float32(1), float32(1)
		vr := c.v[(g*nCtx+j)*dv : (g*nCtx+j+1)*dv]
		if x > M {
			Mold := M
			M = x
			ms = expf(Mold - M)
			for d, a := range acc {
				acc[d] = half.F32ToF16(half.F16ToF32(a) * ms)
			}
		} else {
			vs = expf(x - M)
		}
		for d, a := range acc {
			acc[d] = half.F32ToF16(fmaf(half.F16ToF32(vr[d]), vs, half.F16ToF32(a)))
		}
		S = S*ms + vs
	}
	inv := float32(0)
	if S != 0 {
		inv = 1 / S
	}
	for d, a := range acc {
		out[d] = half.F16ToF32(a) * inv
	}
}

func oneChunkRowF32(c *kvCache, w *attnWork, qr, out []float32, g, p, nCtx int, scale float32, ap attnParams) {
	dk, dv := len(qr), len(out)
	acc := w.og[:dv]
	clear(acc)
	S := float32(0)
	M := float32(math.Inf(-1))
	for j := 0; j <= p; j++ {
		if masked(p, j, ap.swa) {
			continue
		}
		kr := c.k32[(g*nCtx+j)*dk : (g*nCtx+j+1)*dk]
		var d32 float32
		for i, x := range kr {
			d32 = fmaf(x, qr[i], d32)
		}
		x := d32 * scale
		if ap.softcap != 0 {
			x = ap.softcap * tanhf(x)
		}
		ms, vs := float32(1), float32(1)
		vr := c.v32[(g*nCtx+j)*dv : (g*nCtx+j+1)*dv]
		if x > M {
			Mold := M
			M = x
			ms = expf(Mold - M)
			scaleRow(acc, ms)
		} else {
			vs = expf(x - M)
		}
		for d := range acc {
			acc[d] = fmaf(vr[d], vs, acc[d])
		}
		S = S*ms + vs
	}
	inv := float32(0)
	if S != 0 {
		inv = 1 / S
	}
	for d, a := range acc {
		out[d] = a * inv
	}
}

// dotF16Rows is ggml_vec_dot_f16 of two fp16 rows, accumulated in float32 (four accumulators of eight
// lanes reduced as GGML_F32x8_REDUCE does, the tail added in double).
func dotF16Rows(a, b []uint16) float32 {
	n := len(a)
	var acc [32]float32
	i := 0
	for ; i+32 <= n; i += 32 {
		for l := range 32 {
			acc[l] = fmaf(half.F16ToF32(a[i+l]), half.F16ToF32(b[i+l]), acc[l])
		}
	}
	// reduce: the four accumulators are added pairwise, then the eight lanes
	var v [8]float32
	for l := range 8 {
		v[l] = (acc[l] + acc[16+l]) + (acc[8+l] + acc[24+l])
	}
	a0, a1, a2, a3 := v[0]+v[4], v[1]+v[5], v[2]+v[6], v[3]+v[7]
	sum := float64((a0 + a1) + (a2 + a3))
	for ; i < n; i++ {
		sum += float64(half.F16ToF32(a[i]) * half.F16ToF32(b[i]))
	}
	return float32(sum)
}
