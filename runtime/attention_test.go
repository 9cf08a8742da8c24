package runtime

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ggufy/ggufy/internal/half"
	"github.com/ggufy/ggufy/runtime/kernels"
)

// newAttnSession builds a session with only what attention needs.
func newAttnSession(t *testing.T, hp *HParams, nCtx int, kvF32 bool) *Session {
	t.Helper()
	s := &Session{m: &Model{HParams: hp}, nCtx: nCtx, pool: kernels.NewPool(3)}
	t.Cleanup(s.pool.Close)
	dk, dv := hp.HeadDimK, hp.HeadDimV
	s.kv = make([]kvCache, hp.NLayer)
	for il := range s.kv {
		nk, nv := hp.NHeadKV[il]*nCtx*dk, hp.NHeadKV[il]*nCtx*dv
		if kvF32 {
			s.kv[il] = kvCache{k32: make([]float32, nk), v32: make([]float32, nv)}
		} else {
			s.kv[il] = kvCache{k: make([]uint16, nk), v: make([]uint16, nv)}
		}
	}
	group := hp.NHead[0] / hp.NHeadKV[0]
	for range s.pool.Size() {
		s.attnWork = append(s.attnWork, &attnWork{
			kf: make([]float32, nCtx*dk), vt: make([]float32, dv*nCtx),
			qg: make([]float32, group*faTileQ*dk), sc: make([]float32, group*faTileQ*nCtx),
			og: make([]float32, max(group*faTileQ*dv, dv)), inv: make([]float32, group*faTileQ),
			q16: make([]uint16, dk), a16: make([]uint16, dv),
		})
	}
	return s
}

// attnRef is float64 attention of query (head h, position p) over cached rows 0..p: keys and
// values as stored (rounded to fp16 unless f32), scores scaled, softcapped and masked.
func attnRef(q, k, v []float32, nh, nkv, dk, dv, t, h, p int, ap attnParams, f32 bool) []float64 {
	g := h / (nh / nkv)
	rnd := func(x float32) float64 {
		if f32 {
			return float64(x)
		}
		return float64(half.RoundF16(x))
	}
	var sc []float64
	mx := math.Inf(-1)
	for j := 0; j <= p; j++ {
		if masked(p, j, ap.swa) {
			sc = append(sc, math.Inf(-1))
			continue
		}
		var s float64
		for i := range dk {
			s += float64(q[(t*nh+h)*dk+i]) * rnd(k[(j*nkv+g)*dk+i])
		}
		s *= float64(ap.scale)
		if ap.softcap != 0 {
			s = float64(ap.softcap) * math.Tanh(s/float64(ap.softcap))
		}
		sc = append(sc, s)
		mx = max(mx, s)
	}
	out := make([]float64, dv)
	var sum float64
	for j, s := range sc {
		w := math.Exp(s - mx)
		sum += w
		for d := range dv {
			out[d] += w * rnd(v[(j*nkv+g)*dv+d])
		}
	}
	for d := range out {
		out[d] /= sum
	}
	return out
}

func TestAttention(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, c := range []struct {
		n, nh, nkv, dk int
		ap             attnParams
		f32            bool
		tol            float64
	}{
		{n: 100, nh: 4, nkv: 2, dk: 32, ap: attnParams{scale: 0.2}, tol: 2e-6},                        // tiled
		{n: 130, nh: 4, nkv: 1, dk: 64, ap: attnParams{scale: 0.125, swa: 16}, tol: 2e-6},             // tiled, SWA
		{n: 70, nh: 2, nkv: 2, dk: 16, ap: attnParams{scale: 0.3, softcap: 5}, tol: 2e-6},             // tiled, softcap
		{n: 40, nh: 4, nkv: 2, dk: 32, ap: attnParams{scale: 0.2}, tol: 4e-3},                         // fp16 one-chunk
		{n: 40, nh: 4, nkv: 2, dk: 32, ap: attnParams{scale: 0.2, swa: 8, softcap: 3}, tol: 4e-3},     // fp16, SWA, softcap
		{n: 40, nh: 4, nkv: 2, dk: 32, ap: attnParams{scale: 0.2, swa: 8}, f32: true, tol: 2e-6},      // f32 one-chunk
		{n: 90, nh: 4, nkv: 2, dk: 32, ap: attnParams{scale: 0.2, softcap: 4}, f32: true, tol: 2e-6},  // f32 tiled
		{n: 63, nh: 8, nkv: 8, dk: 128, ap: attnParams{scale: 0.09}, tol: 4e-3},                       // fp16, wide heads
		{n: 64, nh: 8, nkv: 8, dk: 128, ap: attnParams{scale: 0.09}, tol: 2e-6},                       // tiled at the threshold
		{n: 200, nh: 6, nkv: 3, dk: 32, ap: attnParams{scale: 0.15, swa: 70, softcap: 10}, tol: 2e-6}, // several KV tiles
	} {
		t.Run(fmt.Sprintf("n%d_h%d_kv%d_d%d_swa%d_cap%g_f32%v", c.n, c.nh, c.nkv, c.dk, c.ap.swa, c.ap.softcap, c.f32), func(t *testing.T) {
			hp := &HParams{NLayer: 1, NHead: []int{c.nh}, NHeadKV: []int{c.nkv}, HeadDimK: c.dk, HeadDimV: c.dk}
			s := newAttnSession(t, hp, 256, c.f32)
			q := randRow(r, c.n*c.nh*c.dk, 1)
			k := randRow(r, c.n*c.nkv*c.dk, 1)
			v := randRow(r, c.n*c.nkv*c.dk, 1)
			dst := make([]float32, c.n*c.nh*c.dk)
			s.attention(0, q, k, v, c.n, 0, dst, c.ap)
			var worst float64
			for tok := range c.n {
				for h := range c.nh {
					want := attnRef(q, k, v, c.nh, c.nkv, c.dk, c.dk, tok, h, tok, c.ap, c.f32)
					for d, w := range want {
						worst = max(worst, math.Abs(float64(dst[(tok*c.nh+h)*c.dk+d])-w))
					}
				}
			}
			if worst > c.tol {
				t.Errorf("max error %.3g > %.3g", worst, c.tol)
			}
		})
	}
}

// TestAttentionIncremental checks that evaluating a sequence in micro-batches gives the same
// bits as one batch when both take the same kernel path (each query row is independent of the
// others in the batch).
func TestAttentionIncremental(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	hp := &HParams{NLayer: 1, NHead: []int{4}, NHeadKV: []int{2}, HeadDimK: 32, HeadDimV: 32}
	for _, split := range [][]int{{128, 64, 64}, {20, 10, 7, 3}} { // tiled, then one-chunk
		n := split[0]
		q := randRow(r, n*4*32, 1)
		k := randRow(r, n*2*32, 1)
		v := randRow(r, n*2*32, 1)
		ap := attnParams{scale: 0.2, swa: 30}
		one := make([]float32, n*4*32)
		newAttnSession(t, hp, 256, false).attention(0, q, k, v, n, 0, one, ap)
		s := newAttnSession(t, hp, 256, false)
		parts := make([]float32, n*4*32)
		pos := 0
		for _, m := range split[1:] {
			s.attention(0, q[pos*128:(pos+m)*128], k[pos*64:(pos+m)*64], v[pos*64:(pos+m)*64], m, pos, parts[pos*128:(pos+m)*128], ap)
			pos += m
		}
		for i := range one {
			if one[i] != parts[i] {
				t.Fatalf("split %v: value %d differs: %g vs %g", split, i, one[i], parts[i])
			}
		}
	}
}
