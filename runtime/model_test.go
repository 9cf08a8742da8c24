package runtime

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ggufy/ggufy/archmap"
	"github.com/ggufy/ggufy/convert"
	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/internal/testmodel"
	"github.com/ggufy/ggufy/quantize"
)

const (
	testdata    = "../testdata"
	tinyTrained = testdata + "/models/tiny-trained"
	evalText    = testdata + "/text/tiny-trained-eval-small.txt"
)

func readText(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func load(t testing.TB, path string) *Model {
	t.Helper()
	m, err := Load(path)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// converted caches F32 GGUF conversions of checkpoint directories for the test binary.
var converted sync.Map // dir -> string (path) or error

// testTmp is the test binary's scratch directory (removed by TestMain).
var testTmp string

var convertDir = sync.OnceValue(func() string {
	d, err := os.MkdirTemp("", "ggufy-runtime-test-")
	if err != nil {
		panic(err)
	}
	testTmp = d
	return d
})

// convertF32 converts the checkpoint in dir to an F32 GGUF (once per test binary) with
// ggufy's converter, as `ggufy convert --outtype f32` does.
func convertF32(t testing.TB, dir string) string {
	t.Helper()
	if v, ok := converted.Load(dir); ok {
		if err, ok := v.(error); ok {
			t.Fatal(err)
		}
		return v.(string)
	}
	out := filepath.Join(convertDir(), filepath.Base(dir)+".f32.gguf")
	if _, err := convert.File(context.Background(), dir, out, gguf.FileTypeAllF32, archmap.Options{}, convert.Options{}); err != nil {
		converted.Store(dir, err)
		t.Fatalf("convert %s: %v", dir, err)
	}
	converted.Store(dir, out)
	return out
}

func TestMain(m *testing.M) {
	code := m.Run()
	if testTmp != "" {
		os.RemoveAll(testTmp)
	}
	os.Exit(code)
}

// materialize rebuilds a testdata/families checkpoint, skipping (as the convert tests do) when
// the tokenizer cache of scripts/testmodels.sh is missing and GGUFY_REQUIRE_TESTMODELS is unset.
func materialize(t testing.TB, variant string) string {
	t.Helper()
	dir := filepath.Join(convertDir(), "families", variant)
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
		return dir
	}
	err := testmodel.Materialize(filepath.Join(testdata, "families", variant), dir)
	if errors.Is(err, testmodel.ErrNoCache) && os.Getenv("GGUFY_REQUIRE_TESTMODELS") == "" {
		os.RemoveAll(dir)
		t.Skipf("%v (run scripts/testmodels.sh)", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestTinyTrainedPerplexity checks the runtime against the independent float64 torch evaluation
// of tiny-trained (a real trained llama): perplexity 56.7245 over tiny-trained-eval-small.txt
// at n_ctx 128, llama-perplexity's method. The checkpoint directory is evaluated directly.
func TestTinyTrainedPerplexity(t *testing.T) {
	m := load(t, tinyTrained)
	r, err := Perplexity(context.Background(), m, readText(t, evalText), nil, WithCtx(128))
	if err != nil {
		t.Fatal(err)
	}
	const want = 56.7245
	if e := math.Abs(r.PPL-want) / want; e > 2e-5 {
		t.Errorf("ppl %.6f, want %.4f (rel %.2g)", r.PPL, want, e)
	}
	if r.Chunks != 84 || r.Ctx != 128 || len(r.NLL) != 84*63 || len(r.Running) != 84 {
		t.Errorf("chunks %d ctx %d nll %d running %d", r.Chunks, r.Ctx, len(r.NLL), len(r.Running))
	}
	if math.IsNaN(r.PPLErr) || r.PPLErr <= 0 || r.PPLErr > 5 {
		t.Errorf("ppl error %g", r.PPLErr)
	}
	if r.Running[len(r.Running)-1] != r.PPL {
		t.Errorf("running %g != final %g", r.Running[len(r.Running)-1], r.PPL)
	}
}

func maxAbsDiff(a, b [][]float32) float64 {
	var d float64
	for i := range a {
		for j := range a[i] {
			d = max(d, math.Abs(float64(a[i][j]-b[i][j])))
		}
	}
	return d
}

func logits(t testing.TB, m *Model, toks []int32, opts ...Option) [][]float32 {
	t.Helper()
	s, err := m.NewSession(append([]Option{WithCtx(max(len(toks), 8))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l, err := s.Logits(toks)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestCheckpointMatchesF32GGUF: a checkpoint directory run through archmap gives the logits of the
// F32 GGUF ggufy's converter writes from it.
func TestCheckpointMatchesF32GGUF(t *testing.T) {
	dirs := []string{tinyTrained, testdata + "/models/stories260k", testdata + "/models/qwen2-rand"}
	for _, v := range []string{"llama2", "mistral", "phi3_128k", "gemma2", "qwen2moe", "gpt2"} {
		t.Run(v, func(t *testing.T) { dirs = append(dirs, materialize(t, v)) })
	}
	text := readText(t, testdata+"/text/multilingual.txt")
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			hf := load(t, dir)
			gg := load(t, convertF32(t, dir))
			toks := hf.Tokenizer.Encode(text, true, false)
			if g := gg.Tokenizer.Encode(text, true, false); !slices.Equal(toks, g) {
				t.Fatalf("tokenization differs between the directory and its GGUF")
			}
			toks = toks[:min(len(toks), 100)]
			if d := maxAbsDiff(logits(t, hf, toks), logits(t, gg, toks)); d > 1e-4 {
				t.Errorf("logits differ by %g", d)
			}
		})
	}
}

// TestDecodeInPieces: a sequence decoded in micro-batches gives the same logits, bit for bit, as in
// one batch when both use the same attention path (per-row numerics).
func TestDecodeInPieces(t *testing.T) {
	m := load(t, tinyTrained)
	toks := m.Tokenizer.Encode(readText(t, evalText), true, false)
	// 128 tokens take the tiled path in one micro-batch or two; 32 the one-chunk path. The sizes
	// are multiples of 4 so that the matrix kernels group the columns alike (their four-column
	// and one-column kernels sum in different orders).
	for _, c := range []struct{ n, ub int }{{128, 64}, {32, 4}, {32, 8}} {
		whole := logits(t, m, toks[:c.n], WithUBatch(c.n))
		parts := logits(t, m, toks[:c.n], WithUBatch(c.ub))
		if d := maxAbsDiff(whole, parts); d != 0 {
			t.Errorf("n %d in micro-batches of %d: logits differ by %g", c.n, c.ub, d)
		}
	}
	// and a continued session: decode a prefix, then the rest
	s, err := m.NewSession(WithCtx(64), WithUBatch(16))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got [][]float32
	emit := func(i int, l []float32) error { got = append(got, slices.Clone(l)); return nil }
	all := make([]int, 16)
	for i := range all {
		all[i] = i
	}
	if err := s.Decode(toks[:16], all, emit); err != nil {
		t.Fatal(err)
	}
	if err := s.Decode(toks[16:32], all, emit); err != nil {
		t.Fatal(err)
	}
	if s.Pos() != 32 {
		t.Errorf("position %d, want 32", s.Pos())
	}
	if d := maxAbsDiff(got, logits(t, m, toks[:32], WithUBatch(16))); d != 0 {
		t.Errorf("continued decode differs by %g", d)
	}
	if err := s.Decode(toks[:40], nil, nil); err == nil {
		t.Error("decoding past the context succeeded")
	}
	if err := s.Decode([]int32{int32(m.NVocab())}, nil, nil); err == nil {
		t.Error("an out-of-range token id was accepted")
	}
}

func TestKLDSelf(t *testing.T) {
	m := load(t, tinyTrained)
	g := load(t, convertF32(t, tinyTrained))
	r, err := KLDivergence(context.Background(), m, g, readText(t, evalText), nil, WithCtx(128), WithChunks(3))
	if err != nil {
		t.Fatal(err)
	}
	if r.KLDMean != 0 || r.KLDMax != 0 || r.KLDP99 != 0 || r.Top1 != 100 || r.PPLBase != r.PPLTest || r.PPLRatio != 1 {
		t.Errorf("self comparison: %+v", r)
	}
	if r.Positions != 3*63 || !r.TestTokenizationIdentical {
		t.Errorf("positions %d identical %v", r.Positions, r.TestTokenizationIdentical)
	}
}

func TestImatrixCollect(t *testing.T) {
	m := load(t, tinyTrained)
	r, err := ComputeImatrix(context.Background(), m, readText(t, evalText), "eval.txt", nil, WithCtx(128), WithChunks(3))
	if err != nil {
		t.Fatal(err)
	}
	im := r.Imatrix
	var want []string
	for name, tt := range m.Tensors {
		if strings.HasPrefix(name, "blk.") && len(tt.Dims) >= 2 {
			want = append(want, name)
		}
	}
	var got []string
	for name, e := range im.Entries {
		got = append(got, name)
		if len(e.Counts) != 1 || e.Counts[0] != 3*128 {
			t.Errorf("%s: counts %v, want [384]", name, e.Counts)
		}
		if len(e.Sums) != m.Tensors[name].Cols() {
			t.Errorf("%s: %d sums for %d columns", name, len(e.Sums), m.Tensors[name].Cols())
		}
		pos := 0
		for _, v := range e.Sums {
			if v < 0 || math.IsNaN(float64(v)) {
				t.Fatalf("%s: sum %g", name, v)
			}
			if v > 0 {
				pos++
			}
		}
		if pos == 0 {
			t.Errorf("%s: all sums zero", name)
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("entries %v, want %v", got, want)
	}
	if im.ChunkCount != 3 || im.ChunkSize != 128 || !slices.Equal(im.Datasets, []string{"eval.txt"}) {
		t.Errorf("chunks %d size %d datasets %v", im.ChunkCount, im.ChunkSize, im.Datasets)
	}
	// the same file llama.cpp's tools write and read
	path := filepath.Join(t.TempDir(), "imatrix.gguf")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := quantize.WriteImatrix(f, im); err != nil {
		t.Fatal(err)
	}
	f.Close()
	back, err := quantize.ReadImatrix(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, e := range im.Entries {
		if !slices.Equal(back.Entries[name].Sums, e.Sums) || !slices.Equal(back.Entries[name].Counts, e.Counts) {
			t.Errorf("%s does not round-trip", name)
		}
	}
}

// rewriteGGUF copies src to a new file with its metadata edited and tensors filtered.
func rewriteGGUF(t *testing.T, src string, edit func(*gguf.Metadata), keep func(string) bool) string {
	t.Helper()
	f, err := gguf.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	meta := f.Meta.Clone()
	edit(meta)
	var infos []gguf.TensorInfo
	var datas [][]byte
	for i, ti := range f.Tensors {
		if !keep(ti.Name) {
			continue
		}
		d, err := f.TensorData(i)
		if err != nil {
			t.Fatal(err)
		}
		infos = append(infos, ti)
		datas = append(datas, d)
	}
	out := filepath.Join(t.TempDir(), "edited.gguf")
	w, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gguf.NewWriter(w, meta, infos)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range datas {
		if err := gw.WriteTensor(infos[i].Name, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := gw.Close(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return out
}

func TestLoadErrors(t *testing.T) {
	src := testdata + "/ref/stories260k.f32.gguf"
	all := func(string) bool { return true }
	p := rewriteGGUF(t, src, func(m *gguf.Metadata) { m.Set("general.architecture", gguf.String("mamba")) }, all)
	if _, err := Load(p); !errors.Is(err, ErrUnsupportedArch) || !strings.Contains(err.Error(), "mamba") {
		t.Errorf("unsupported architecture: %v", err)
	}
	p = rewriteGGUF(t, src, func(*gguf.Metadata) {}, func(n string) bool { return n != "blk.1.attn_k.weight" })
	if _, err := Load(p); !errors.Is(err, ErrTensor) || !strings.Contains(err.Error(), "blk.1.attn_k.weight") {
		t.Errorf("missing tensor: %v", err)
	}
	p = rewriteGGUF(t, src, func(m *gguf.Metadata) { m.Delete("llama.attention.layer_norm_rms_epsilon") }, all)
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "llama.attention.layer_norm_rms_epsilon") {
		t.Errorf("missing key: %v", err)
	}
	p = rewriteGGUF(t, src, func(m *gguf.Metadata) { m.Set("llama.attention.head_count_kv", gguf.Uint32(3)) }, all)
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "head_count") {
		t.Errorf("bad head count: %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "absent.gguf")); err == nil {
		t.Error("loading a missing file succeeded")
	}
	m := load(t, src)
	if _, err := Perplexity(context.Background(), m, "too short", nil, WithCtx(64)); !errors.Is(err, ErrTooShort) {
		t.Errorf("short text: %v", err)
	}
}

// hfLogits is a testdata/families/*/hf_logits.json: transformers' float32 logits of a token
// sequence at fixed probe ids.
type hfLogits struct {
	TokenIDs []int32 `json:"token_ids"`
	ProbeIDs []int   `json:"probe_ids"`
	Probe    string  `json:"probe_logits_f32le_b64"`
}

// TestFamiliesMatchTransformers runs every family's test checkpoint (real transformers configs,
// scaled down) directly from its directory with a float32 KV cache and compares the logits with
// those transformers computed (float32, eager attention). Families with GELU are held to the
// precision of ggml's fp16 GELU table.
func TestFamiliesMatchTransformers(t *testing.T) {
	tol := map[string]float64{"gemma": 5e-5, "gemma2": 1e-3, "gemma3": 1e-3, "gpt2": 1e-3}
	variants, err := testmodel.Variants(filepath.Join(testdata, "families"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range variants {
		t.Run(v, func(t *testing.T) {
			var h hfLogits
			b, err := os.ReadFile(filepath.Join(testdata, "families", v, "hf_logits.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &h); err != nil {
				t.Fatal(err)
			}
			raw, err := base64.StdEncoding.DecodeString(h.Probe)
			if err != nil || len(raw) != 4*len(h.TokenIDs)*len(h.ProbeIDs) {
				t.Fatalf("probe logits: %d bytes, %v", len(raw), err)
			}
			m := load(t, materialize(t, v))
			got := logits(t, m, h.TokenIDs, WithKVF32(true))
			var worst float64
			np := len(h.ProbeIDs)
			for i := range h.TokenIDs {
				for k, id := range h.ProbeIDs {
					want := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*(i*np+k):]))
					worst = max(worst, math.Abs(float64(got[i][id]-want)))
				}
			}
			limit := 2e-6
			if l, ok := tol[v]; ok {
				limit = l
			}
			if worst > limit {
				t.Errorf("logits differ from transformers' by %.3g (limit %.3g)", worst, limit)
			}
			t.Logf("max |logit - transformers| = %.3g", worst)
		})
	}
}

// TestImatrixExperts: for mixture-of-experts layers the imatrix has one row of sums and one count
// per expert (ggml_mul_mat_id), and the counts add up to tokens × experts per token; dense
// products count tokens.
func TestImatrixExperts(t *testing.T) {
	for _, v := range []string{"mixtral", "qwen2moe", "qwen3moe"} {
		t.Run(v, func(t *testing.T) {
			m := load(t, materialize(t, v))
			hp := m.HParams
			r, err := ComputeImatrix(context.Background(), m, readText(t, evalText), "", nil, WithCtx(64), WithChunks(2))
			if err != nil {
				t.Fatal(err)
			}
			tokens := int64(2 * 64)
			nExp := 0
			for name, e := range r.Imatrix.Entries {
				tt := m.Tensors[name]
				if strings.Contains(name, "_exps.") {
					nExp++
					if len(e.Counts) != hp.NExpert || len(e.Sums) != hp.NExpert*tt.Cols() {
						t.Fatalf("%s: %d counts, %d sums", name, len(e.Counts), len(e.Sums))
					}
					var total int64
					for ex, c := range e.Counts {
						total += c
						zero := true
						for _, s := range e.Sums[ex*tt.Cols() : (ex+1)*tt.Cols()] {
							zero = zero && s == 0
						}
						if zero != (c == 0) {
							t.Errorf("%s expert %d: count %d but sums zero=%v", name, ex, c, zero)
						}
					}
					if total != tokens*int64(hp.NExpertUsed) {
						t.Errorf("%s: %d routed rows, want %d", name, total, tokens*int64(hp.NExpertUsed))
					}
				} else if len(e.Counts) != 1 || e.Counts[0] != tokens {
					t.Errorf("%s: counts %v, want [%d]", name, e.Counts, tokens)
				}
			}
			if nExp != 3*hp.NLayer {
				t.Errorf("%d expert tensors, want %d", nExp, 3*hp.NLayer)
			}
		})
	}
}
