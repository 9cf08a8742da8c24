//go:build llamacpp

package llamacpp

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/internal/pplstat"
)

// The goldens in testdata/oracle_*.json come from real llama.cpp v0.5.0 through the shared ctypes
// oracle; each file's _comment gives the exact command.
const (
	stories260k = "../../testdata/ref/stories260k.f32.gguf"
	evalText    = "../../testdata/text/stories260k-eval.txt"
	testThreads = 1 // results do not depend on it; 1 keeps ggml's spinning workers off a shared machine
)

// TestMain fails the whole package, rather than skipping, when the llamacpp tag is on but the
// harness environment is missing: a silently skipped judge is no judge.
func TestMain(m *testing.M) {
	if os.Getenv("GGUFY_LLAMACPP_LIB") == "" {
		fmt.Fprintln(os.Stderr, "FAIL: built with -tags llamacpp but GGUFY_LLAMACPP_LIB is unset; run:\n"+
			"\teval \"$(scripts/llamacpp.sh)\" && go test -tags llamacpp ./internal/llamacpp/")
		os.Exit(1)
	}
	if err := Init(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: llamacpp.Init:", err)
		os.Exit(1)
	}
	if v := os.Getenv("GGUFY_LLAMACPP_CPU"); v != "" && v != DefaultCPUVariant {
		fmt.Fprintf(os.Stderr, "note: GGUFY_LLAMACPP_CPU=%s; the evaluation goldens were made with %s and will differ at ~1e-4\n",
			v, DefaultCPUVariant)
	}
	os.Exit(m.Run())
}

func readGolden(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// goldenEntry decodes one named entry of a golden file that holds several.
func goldenEntry(t testing.TB, name, key string, v any) {
	t.Helper()
	var all map[string]json.RawMessage
	readGolden(t, name, &all)
	raw, ok := all[key]
	if !ok {
		t.Fatalf("%s has no %q", name, key)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s[%s]: %v", name, key, err)
	}
}

func readText(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func loadModel(t testing.TB, path string, opts ModelOptions) *Model {
	t.Helper()
	m, err := LoadModel(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// closeRel reports whether got is within rel (relative) of want.
func closeRel(got, want, rel float64) bool {
	if got == want {
		return true
	}
	return math.Abs(got-want) <= rel*math.Max(math.Abs(want), math.Abs(got))
}

func TestInitIdempotent(t *testing.T) {
	for range 2 {
		if err := Init(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadInfo(t *testing.T) {
	var want struct {
		Desc      string            `json:"desc"`
		FType     int               `json:"ftype"`
		FTypeName string            `json:"ftype_name"`
		Size      uint64            `json:"size_bytes"`
		NParams   uint64            `json:"n_params"`
		NCtxTrain int               `json:"n_ctx_train"`
		NEmbd     int               `json:"n_embd"`
		NLayer    int               `json:"n_layer"`
		NHead     int               `json:"n_head"`
		NHeadKV   int               `json:"n_head_kv"`
		RopeType  int               `json:"rope_type"`
		NVocab    int               `json:"n_vocab"`
		VocabType int               `json:"vocab_type"`
		BOS       int32             `json:"bos"`
		EOS       int32             `json:"eos"`
		AddBOS    bool              `json:"add_bos"`
		AddEOS    bool              `json:"add_eos"`
		Meta      map[string]string `json:"meta"`
	}
	readGolden(t, "oracle_info.json", &want)
	m := loadModel(t, stories260k, ModelOptions{})
	got, err := m.Info()
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, g, w any) {
		if g != w {
			t.Errorf("%s = %v, llama.cpp (oracle) says %v", name, g, w)
		}
	}
	check("desc", got.Desc, want.Desc)
	check("ftype", int(got.FType), want.FType)
	check("ftype name", got.FTypeName, want.FTypeName)
	check("ftype name vs gguf.FileType", got.FTypeName, got.FType.String())
	check("size", got.Size, want.Size)
	check("n_params", got.NParams, want.NParams)
	check("n_ctx_train", got.NCtxTrain, want.NCtxTrain)
	check("n_embd", got.NEmbd, want.NEmbd)
	check("n_layer", got.NLayer, want.NLayer)
	check("n_head", got.NHead, want.NHead)
	check("n_head_kv", got.NHeadKV, want.NHeadKV)
	check("rope_type", got.RopeType, want.RopeType)
	check("n_vocab", got.NVocab, want.NVocab)
	check("vocab type", int(got.VocabType), want.VocabType)
	check("vocab type name", got.VocabType.String(), "spm")
	check("bos", got.BOS, want.BOS)
	check("eos", got.EOS, want.EOS)
	check("add_bos", got.AddBOS, want.AddBOS)
	check("add_eos", got.AddEOS, want.AddEOS)
	if len(got.MetaKeys) != len(want.Meta) || len(got.Meta) != len(want.Meta) {
		t.Errorf("%d metadata keys (%d distinct), want %d", len(got.MetaKeys), len(got.Meta), len(want.Meta))
	}
	for k, v := range want.Meta {
		if got.Meta[k] != v {
			t.Errorf("meta %s = %q, want %q", k, got.Meta[k], v)
		}
	}

	// The same file read by our gguf package agrees on what both can see.
	f, err := gguf.Open(stories260k)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n := f.Meta.GetString("general.name"); n != got.Meta["general.name"] {
		t.Errorf("general.name: gguf package %q, llama.cpp %q", n, got.Meta["general.name"])
	}

	// vocab-only: same vocabulary, no weights, no contexts
	v := loadModel(t, stories260k, ModelOptions{VocabOnly: true})
	vi, err := v.Info()
	if err != nil {
		t.Fatal(err)
	}
	if vi.NVocab != got.NVocab || vi.BOS != got.BOS {
		t.Errorf("vocab-only: n_vocab %d bos %d, want %d %d", vi.NVocab, vi.BOS, got.NVocab, got.BOS)
	}
	if _, err := v.Logits([]int32{1, 2}, ContextOptions{Threads: testThreads}); !errors.Is(err, ErrVocabOnly) {
		t.Errorf("logits of a vocab-only model: %v, want ErrVocabOnly", err)
	}
}

func TestLoadErrors(t *testing.T) {
	// not a GGUF file: the error must carry llama.cpp's own explanation
	_, err := LoadModel(evalText, ModelOptions{})
	if err == nil {
		t.Fatal("loading a text file succeeded")
	}
	if !strings.Contains(err.Error(), "magic") {
		t.Errorf("error does not carry llama.cpp's log: %v", err)
	}
	if _, err := LoadModel(filepath.Join(t.TempDir(), "missing.gguf"), ModelOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}

	m, err := LoadModel(stories260k, ModelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	m.Close()
	if _, err := m.Tokenize("x", true, false); !errors.Is(err, ErrClosed) {
		t.Errorf("tokenize on a closed model: %v", err)
	}
	if _, err := m.Info(); !errors.Is(err, ErrClosed) {
		t.Errorf("info on a closed model: %v", err)
	}
}

func TestTokenize(t *testing.T) {
	var want struct {
		Tokens []int32 `json:"tokens"`
	}
	readGolden(t, "oracle_tokenize.json", &want)
	text := readText(t, "testdata/multilingual.txt")
	m := loadModel(t, stories260k, ModelOptions{VocabOnly: true})

	toks, err := m.Tokenize(text, true, false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(toks, want.Tokens) {
		t.Errorf("tokens differ from llama-tokenize (oracle):\n got %v\nwant %v", toks, want.Tokens)
	}
	if toks[0] != 1 {
		t.Errorf("first token %d, want BOS 1", toks[0])
	}
	// Without BOS the round trip is exact: detokenize drops the space prefix SPM inserted.
	// With BOS removed by remove_special, llama.cpp (llama_vocab::impl::detokenize) keeps it.
	noBOS, err := m.Tokenize(text, false, false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(noBOS, toks[1:]) {
		t.Errorf("add_special=false: %v, want the same tokens without BOS", noBOS)
	}
	for _, tc := range []struct {
		toks          []int32
		removeSpecial bool
		want          string
	}{
		{noBOS, false, text},
		{noBOS, true, text},
		{toks, true, " " + text},
		{toks, false, "<s> " + text},
	} {
		back, err := m.Detokenize(tc.toks, tc.removeSpecial, true)
		if err != nil {
			t.Fatal(err)
		}
		if back != tc.want {
			t.Errorf("detokenize(%d tokens, remove_special %v) = %q, want %q", len(tc.toks), tc.removeSpecial, back, tc.want)
		}
	}
	// the pieces (BOS rendered as "<s>") concatenate to the SPM text: BOS, then the space
	// prefix the tokenizer inserts, then the text's bytes (byte-fallback tokens give raw bytes)
	var sb strings.Builder
	for _, tk := range toks {
		p, err := m.TokenToPiece(tk)
		if err != nil {
			t.Fatal(err)
		}
		sb.WriteString(p)
	}
	if got := sb.String(); got != "<s> "+text {
		t.Errorf("pieces join to %q", got)
	}

	special, err := m.Tokenize("<s>x", false, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(special) == 0 || special[0] != 1 {
		t.Errorf("parse_special: %v, want BOS first", special)
	}
	if empty, err := m.Tokenize("", false, false); err != nil || len(empty) != 0 {
		t.Errorf("empty text: %v, %v", empty, err)
	}
	for _, bad := range []int32{-1, int32(m.NVocab())} {
		if _, err := m.TokenToPiece(bad); err == nil {
			t.Errorf("TokenToPiece(%d) succeeded", bad)
		}
		if _, err := m.Detokenize([]int32{1, bad}, false, false); err == nil {
			t.Errorf("Detokenize with %d succeeded", bad)
		}
	}
}

func relL2(a, b [][]float32) float64 {
	var num, den float64
	for i := range a {
		for j := range a[i] {
			d := float64(a[i][j] - b[i][j])
			num += d * d
			den += float64(b[i][j]) * float64(b[i][j])
		}
	}
	return math.Sqrt(num / den)
}

func logitsSHA(rows [][]float32) string {
	h := sha256.New()
	var b [4]byte
	for _, r := range rows {
		for _, v := range r {
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
			h.Write(b[:])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestLogits(t *testing.T) {
	var want struct {
		Shape  []int   `json:"shape"`
		Tokens []int32 `json:"tokens"`
		Argmax []int   `json:"argmax"`
		SHA256 string  `json:"sha256"`
	}
	readGolden(t, "oracle_logits.json", &want)
	m := loadModel(t, stories260k, ModelOptions{})
	toks, err := m.Tokenize(strings.TrimSuffix(readText(t, evalText), "\n"), true, false)
	if err != nil {
		t.Fatal(err)
	}
	toks = toks[:128]
	if !slices.Equal(toks, want.Tokens) {
		t.Fatalf("tokens differ from the oracle's")
	}
	opts := ContextOptions{NCtx: 128, Threads: testThreads}
	rows, err := m.Logits(toks, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != want.Shape[0] || len(rows[0]) != want.Shape[1] {
		t.Fatalf("logits shape %dx%d, want %v", len(rows), len(rows[0]), want.Shape)
	}
	for i, r := range rows {
		if a := pplstat.Argmax(r); a != want.Argmax[i] {
			t.Errorf("position %d: argmax %d, llama.cpp (oracle) %d", i, a, want.Argmax[i])
		}
	}
	// Same library, same settings: the logits are the oracle's bit for bit.
	if s := logitsSHA(rows); s != want.SHA256 {
		t.Errorf("logits sha256 %s, oracle %s", s, want.SHA256)
	}
	again, err := m.Logits(toks, opts)
	if err != nil {
		t.Fatal(err)
	}
	if logitsSHA(again) != logitsSHA(rows) {
		t.Error("a second evaluation gives different logits")
	}
	// With an F32 cache and no flash attention, three decodes of 48, 48 and 32 tokens agree
	// with one decode up to float rounding (the matmul shapes change), and with the default
	// F16 cache to its precision.
	f32 := ContextOptions{NCtx: 128, Threads: testThreads, FlashAttn: FlashAttnOff, TypeK: "f32", TypeV: "f32"}
	whole, err := m.Logits(toks, f32)
	if err != nil {
		t.Fatal(err)
	}
	f32.NBatch = 48
	split, err := m.Logits(toks, f32)
	if err != nil {
		t.Fatal(err)
	}
	if d := relL2(split, whole); d > 1e-5 {
		t.Errorf("logits in 3 decodes differ from one decode by %g (relative L2)", d)
	}
	if d := relL2(rows, whole); d > 1e-2 || d == 0 {
		t.Errorf("F16 cache vs F32 cache: relative L2 %g", d)
	}
	t.Logf("relative L2: split/whole %.3g, f16 cache/f32 cache %.3g", relL2(split, whole), relL2(rows, whole))

	for _, bad := range []ContextOptions{{NCtx: 8}, {TypeK: "q9_9"}, {FlashAttn: 7}} {
		bad.Threads = testThreads
		if _, err := m.Logits(toks, bad); err == nil {
			t.Errorf("Logits with %+v succeeded", bad)
		}
	}
	if _, err := m.Logits(nil, opts); err == nil {
		t.Error("Logits of no tokens succeeded")
	}
	if _, err := m.Logits([]int32{1, int32(m.NVocab())}, opts); err == nil {
		t.Error("Logits of an out-of-vocabulary token succeeded")
	}
}

type oraclePPL struct {
	PPL        float64   `json:"ppl"`
	PPLErr     float64   `json:"ppl_uncertainty"`
	MeanNLL    float64   `json:"mean_nll"`
	NCtx       int       `json:"n_ctx"`
	NChunks    int       `json:"n_chunks"`
	NTokens    int       `json:"n_tokens_text"`
	NScored    int       `json:"n_scored"`
	RunningPPL []float64 `json:"running_ppl"`
	NBatch     int       `json:"n_batch"`
	NSeq       int       `json:"n_seq"`
}

func TestPerplexity(t *testing.T) {
	m := loadModel(t, stories260k, ModelOptions{})
	text := readText(t, evalText)
	for _, tc := range []struct {
		name string
		opts PPLOptions
	}{
		{"ctx128_batch2048", PPLOptions{NCtx: 128, Threads: testThreads}},
		{"ctx128_batch64", PPLOptions{NCtx: 128, NBatch: 64, Threads: testThreads}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want oraclePPL
			goldenEntry(t, "oracle_ppl.json", tc.name, &want)
			r, err := m.Perplexity(text, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("PPL %.10g ± %.10g (oracle %.10g ± %.10g, rel. diff %.2g)", r.PPL, r.PPLErr, want.PPL, want.PPLErr,
				math.Abs(r.PPL-want.PPL)/want.PPL)
			if !closeRel(r.PPL, want.PPL, 1e-6) || !closeRel(r.PPLErr, want.PPLErr, 1e-6) {
				t.Errorf("PPL %.10g ± %.10g, llama-perplexity (oracle) %.10g ± %.10g", r.PPL, r.PPLErr, want.PPL, want.PPLErr)
			}
			if !closeRel(r.MeanNLL, want.MeanNLL, 1e-7) {
				t.Errorf("mean NLL %.12g, want %.12g", r.MeanNLL, want.MeanNLL)
			}
			if len(r.Tokens) != want.NTokens || r.Chunks != want.NChunks || len(r.NLL) != want.NScored || r.NCtx != want.NCtx || r.NSeq != want.NSeq {
				t.Errorf("tokens %d chunks %d scored %d n_ctx %d n_seq %d, want %d %d %d %d %d", len(r.Tokens), r.Chunks, len(r.NLL),
					r.NCtx, r.NSeq, want.NTokens, want.NChunks, want.NScored, want.NCtx, want.NSeq)
			}
			if len(r.Running) != len(want.RunningPPL) {
				t.Fatalf("%d running values, want %d", len(r.Running), len(want.RunningPPL))
			}
			for i, w := range want.RunningPPL {
				if !closeRel(r.Running[i], w, 1e-6) {
					t.Errorf("[%d] running PPL %.6f, want %.6f", i+1, r.Running[i], w)
				}
			}
			var s float64
			for _, v := range r.NLL {
				s += v
			}
			if !closeRel(s/float64(len(r.NLL)), r.MeanNLL, 1e-12) {
				t.Errorf("NLL values average to %g, MeanNLL %g", s/float64(len(r.NLL)), r.MeanNLL)
			}
		})
	}

	t.Run("chunks", func(t *testing.T) {
		// with n_batch 64 every chunk is decoded on its own, so the first 3 chunks give the
		// running value after chunk 3 (with n_batch 2048 all chunks share one decode, and the
		// batch's composition moves this peaky model's numbers at the 1e-3 level)
		r, err := m.Perplexity(text, PPLOptions{NCtx: 128, NBatch: 64, Chunks: 3, Threads: testThreads})
		if err != nil {
			t.Fatal(err)
		}
		var full oraclePPL
		goldenEntry(t, "oracle_ppl.json", "ctx128_batch64", &full)
		want := full.RunningPPL[2]
		if r.Chunks != 3 || !closeRel(r.PPL, want, 1e-6) {
			t.Errorf("3 chunks: %d chunks, PPL %.6f, want the running value %.6f", r.Chunks, r.PPL, want)
		}
	})
	t.Run("errors", func(t *testing.T) {
		if _, err := m.Perplexity(text[:200], PPLOptions{NCtx: 128, Threads: testThreads}); err == nil {
			t.Error("perplexity of too short a text succeeded")
		}
		if _, err := m.Perplexity(text, PPLOptions{NCtx: 2, Threads: testThreads}); err == nil {
			t.Error("perplexity with n_ctx 2 succeeded")
		}
	})
}

type oracleKLD struct {
	NPositions   int     `json:"n_positions"`
	PPLTest      float64 `json:"ppl_test"`
	PPLTestErr   float64 `json:"ppl_test_uncertainty"`
	PPLBase      float64 `json:"ppl_base"`
	PPLBaseErr   float64 `json:"ppl_base_uncertainty"`
	PPLRatio     float64 `json:"ppl_ratio"`
	PPLRatioErr  float64 `json:"ppl_ratio_uncertainty"`
	LnPPLRatio   float64 `json:"ln_ppl_ratio"`
	CorLnPPL     float64 `json:"cor_ln_ppl"`
	MeanKLD      float64 `json:"mean_kld"`
	KLDErr       float64 `json:"mean_kld_uncertainty"`
	Max          float64 `json:"max_kld"`
	P999         float64 `json:"p99_9_kld"`
	P99          float64 `json:"p99_kld"`
	P95          float64 `json:"p95_kld"`
	P90          float64 `json:"p90_kld"`
	Median       float64 `json:"median_kld"`
	P10          float64 `json:"p10_kld"`
	P5           float64 `json:"p5_kld"`
	P1           float64 `json:"p1_kld"`
	Min          float64 `json:"min_kld"`
	Top1         float64 `json:"same_top_p_pct"`
	Top1Err      float64 `json:"same_top_p_pct_uncertainty"`
	MeanDeltaP   float64 `json:"mean_delta_p_pct"`
	RMSDeltaP    float64 `json:"rms_delta_p_pct"`
	RMSDeltaPErr float64 `json:"rms_delta_p_pct_uncertainty"`
	MaxDeltaP    float64 `json:"max_delta_p_pct"`
	MinDeltaP    float64 `json:"min_delta_p_pct"`
	P99DeltaP    float64 `json:"p99_delta_p_pct"`
	P1DeltaP     float64 `json:"p1_delta_p_pct"`
}

type oracleKLDRun struct {
	NChunks int       `json:"n_chunks"`
	Same    bool      `json:"test_tokenization_identical"`
	KLD     oracleKLD `json:"kld"`
	Compat  oracleKLD `json:"llama_perplexity_compat"`
}

// compareKLD checks every statistic the oracle reports against ours to rel (relative); small
// values (|want| < floor) are compared absolutely to rel*floor.
func compareKLD(t *testing.T, what string, got KLDStats, want oracleKLD, rel, floor float64) {
	t.Helper()
	pairs := []struct {
		name   string
		g, w   float64
		scaled bool
	}{
		{"ppl_test", got.PPLTest, want.PPLTest, false}, {"ppl_test_unc", got.PPLTestErr, want.PPLTestErr, false},
		{"ppl_base", got.PPLBase, want.PPLBase, false}, {"ppl_base_unc", got.PPLBaseErr, want.PPLBaseErr, false},
		{"ppl_ratio", got.PPLRatio, want.PPLRatio, false}, {"ppl_ratio_unc", got.PPLRatioErr, want.PPLRatioErr, false},
		{"ln_ppl_ratio", got.LnPPLRatio, want.LnPPLRatio, false}, {"cor_ln_ppl", got.CorLnPPL, want.CorLnPPL, false},
		{"mean_kld", got.MeanKLD, want.MeanKLD, false}, {"kld_unc", got.KLDErr, want.KLDErr, false},
		{"max", got.Max, want.Max, false}, {"p99.9", got.P999, want.P999, false}, {"p99", got.P99, want.P99, false},
		{"p95", got.P95, want.P95, false}, {"p90", got.P90, want.P90, false}, {"median", got.Median, want.Median, false},
		{"p10", got.P10, want.P10, false}, {"p5", got.P5, want.P5, false}, {"p1", got.P1, want.P1, false},
		{"min", got.Min, want.Min, false}, {"top1", got.Top1, want.Top1, false}, {"top1_unc", got.Top1Err, want.Top1Err, false},
		{"mean_dp", got.MeanDeltaP, want.MeanDeltaP, true}, {"rms_dp", got.RMSDeltaP, want.RMSDeltaP, false},
		{"rms_dp_unc", got.RMSDeltaPErr, want.RMSDeltaPErr, false}, {"max_dp", got.MaxDeltaP, want.MaxDeltaP, false},
		{"min_dp", got.MinDeltaP, want.MinDeltaP, false}, {"p99_dp", got.P99DeltaP, want.P99DeltaP, false},
		{"p1_dp", got.P1DeltaP, want.P1DeltaP, false},
	}
	if got.Positions != want.NPositions {
		t.Errorf("%s: %d positions, want %d", what, got.Positions, want.NPositions)
	}
	for _, p := range pairs {
		ok := closeRel(p.g, p.w, rel)
		if !ok && math.Abs(p.w) < floor {
			ok = math.Abs(p.g-p.w) <= rel*floor
		}
		if !ok {
			t.Errorf("%s %s = %.10g, llama.cpp (oracle) %.10g", what, p.name, p.g, p.w)
		}
	}
}

func TestKLDivergenceSelf(t *testing.T) {
	var want oracleKLDRun
	goldenEntry(t, "oracle_kld.json", "self", &want)
	m := loadModel(t, stories260k, ModelOptions{})
	r, err := KLDivergence(m, m, readText(t, evalText), PPLOptions{NCtx: 128, Threads: testThreads})
	if err != nil {
		t.Fatal(err)
	}
	if r.MeanKLD != 0 || r.Max != 0 || r.Top1 != 100 || r.PPLTest != r.PPLBase || r.MaxDeltaP != 0 || r.MinDeltaP != 0 {
		t.Errorf("model against itself: mean KLD %g, max %g, top-1 %g%%, PPL %g vs %g, Δp [%g, %g]; want 0, 0, 100, equal, 0",
			r.MeanKLD, r.Max, r.Top1, r.PPLTest, r.PPLBase, r.MinDeltaP, r.MaxDeltaP)
	}
	for i, v := range r.KLD {
		if v != 0 {
			t.Fatalf("position %d: KLD %g", i, v)
		}
	}
	if !r.TestTokenizationIdentical || r.Chunks != want.NChunks || len(r.KLD) != want.KLD.NPositions {
		t.Errorf("tokenization identical %v, %d chunks, %d positions", r.TestTokenizationIdentical, r.Chunks, len(r.KLD))
	}
	// the base PPL is the one Perplexity computes (double log-softmax vs llama's float/double mix)
	p, err := m.Perplexity(readText(t, evalText), PPLOptions{NCtx: 128, Threads: testThreads})
	if err != nil {
		t.Fatal(err)
	}
	if !closeRel(r.PPLBase, p.PPL, 1e-6) {
		t.Errorf("KLD base PPL %.10g, Perplexity %.10g", r.PPLBase, p.PPL)
	}
	compareKLD(t, "exact", r.KLDStats, want.KLD, 1e-6, 1e-3)
	// llama-perplexity's 16-bit base: tiny noise instead of zero, as the oracle documents. Its
	// Δp values are ~1e-4 %, differences of float expf results, where our libm-exact expf and
	// numpy's float32 exp disagree in the last bit: those are compared to 1e-6 % absolute.
	compareKLD(t, "compat", r.Compat, want.Compat, 1e-4, 1e-2)
	if r.Compat.MeanKLD <= 0 || r.Compat.MeanKLD > 1e-5 {
		t.Errorf("compat self KLD %g, want quantization noise in (0, 1e-5]", r.Compat.MeanKLD)
	}
}

func quantized(t *testing.T, ftype string, opts QuantizeOptions) (string, *gguf.File) {
	t.Helper()
	out := filepath.Join(t.TempDir(), strings.ToLower(ftype)+".gguf")
	opts.FType = ftype
	if opts.Threads == 0 {
		opts.Threads = testThreads
	}
	if err := ModelQuantize(stories260k, out, opts); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return out, f
}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

type oracleQuant struct {
	SHA256      string            `json:"sha256"`
	FileType    int               `json:"output_general_file_type"`
	Tensors     map[string]string `json:"output_tensors"`
	TensorTypes map[string]int    `json:"output_tensor_types"`
}

func tensorTypes(f *gguf.File) map[string]string {
	m := map[string]string{}
	for _, ti := range f.Tensors {
		m[ti.Name] = strings.ToUpper(ti.Type.String())
	}
	return m
}

func checkQuantized(t *testing.T, path string, f *gguf.File, want oracleQuant) {
	t.Helper()
	got := tensorTypes(f)
	if len(got) != len(want.Tensors) {
		t.Errorf("%d tensors, llama-quantize (oracle) wrote %d", len(got), len(want.Tensors))
	}
	for name, w := range want.Tensors {
		if got[name] != w {
			t.Errorf("%s: %s, llama-quantize (oracle) chose %s", name, got[name], w)
		}
	}
	if ft := f.Meta.GetInt("general.file_type", -1); ft != int64(want.FileType) {
		t.Errorf("general.file_type %d, want %d", ft, want.FileType)
	}
	if s := fileSHA(t, path); s != want.SHA256 {
		t.Errorf("output sha256 %s, llama-quantize (oracle) %s", s, want.SHA256)
	}
}

func TestModelQuantize(t *testing.T) {
	golden := func(key string) oracleQuant {
		var q oracleQuant
		goldenEntry(t, "oracle_quantize.json", key, &q)
		return q
	}
	for _, ft := range []string{"Q8_0", "Q4_K_M"} {
		t.Run(ft, func(t *testing.T) {
			path, f := quantized(t, ft, QuantizeOptions{})
			checkQuantized(t, path, f, golden(ft))
		})
	}
	t.Run("imatrix", func(t *testing.T) {
		path, f := quantized(t, "Q4_K_M", QuantizeOptions{ImatrixFile: "testdata/stories260k.imatrix.dat"})
		checkQuantized(t, path, f, golden("Q4_K_M_imatrix"))
		for k, want := range map[string]string{
			"quantize.imatrix.file": "testdata/stories260k.imatrix.dat", "quantize.imatrix.dataset": "ggufy-synthetic.txt",
		} {
			if got := f.Meta.GetString(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		for k, want := range map[string]int64{"quantize.imatrix.entries_count": 35, "quantize.imatrix.chunks_count": 10} {
			if got := f.Meta.GetInt(k, -1); got != want {
				t.Errorf("%s = %d, want %d", k, got, want)
			}
		}
		// the same data as a map: the same tensors, without the quantize.imatrix.* keys
		im, err := LoadImatrix("testdata/stories260k.imatrix.dat")
		if err != nil {
			t.Fatal(err)
		}
		_, g := quantized(t, "Q4_K_M", QuantizeOptions{Imatrix: im.Entries})
		sameTensorData(t, f, g)
		if _, ok := g.Meta.Get("quantize.imatrix.file"); ok {
			t.Error("an in-memory imatrix wrote quantize.imatrix.file")
		}
		// and it changes the result: the plain Q4_K_M differs
		plain, _ := quantized(t, "Q4_K_M", QuantizeOptions{})
		if fileSHA(t, plain) == fileSHA(t, path) {
			t.Error("the imatrix made no difference")
		}
	})
	t.Run("options", func(t *testing.T) {
		_, f := quantized(t, "q4_k_m", QuantizeOptions{
			TensorTypes:        []TensorType{{Pattern: "ATTN_Q", Type: gguf.TypeQ8_0}, {Pattern: `blk\.1\.ffn_up`, Type: gguf.TypeF16}},
			TokenEmbeddingType: "q4_0",
		})
		got := tensorTypes(f)
		for name, want := range map[string]string{
			"blk.0.attn_q.weight": "Q8_0", "blk.4.attn_q.weight": "Q8_0", "blk.1.ffn_up.weight": "F16",
			"blk.0.ffn_up.weight": "Q5_0", "token_embd.weight": "Q4_0",
		} {
			if got[name] != want {
				t.Errorf("%s: %s, want %s", name, got[name], want)
			}
		}
		_, f = quantized(t, "15", QuantizeOptions{Pure: true})
		for name, typ := range tensorTypes(f) {
			if ti := f.Tensors[f.Tensor(name)]; len(ti.Dims) > 1 && typ != "Q5_0" && typ != "F16" {
				t.Errorf("pure Q4_K_M: %s is %s", name, typ)
			}
		}
		_, f = quantized(t, "Q8_0", QuantizeOptions{PruneLayers: []int{4, 3, 4}})
		if n := f.Meta.GetInt("llama.block_count", -1); n != 3 || f.Tensor("blk.3.attn_q.weight") >= 0 {
			t.Errorf("pruned layers 3 and 4: block_count %d", n)
		}
	})
	t.Run("errors", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "x.gguf")
		for _, o := range []QuantizeOptions{
			{FType: "Q9_K"},
			{FType: "Q8_0", OutputTensorType: "nope"},
			{FType: "Q8_0", Imatrix: map[string][]float32{"a": {1}}, ImatrixFile: "x"},
			{FType: "Q8_0", IncludeWeights: []string{"a"}, ExcludeWeights: []string{"b"}},
			{FType: "Q8_0", TensorTypes: []TensorType{{Pattern: "x", Type: 4}}},
			{FType: "Q8_0", PruneLayers: []int{-1}},
		} {
			if err := ModelQuantize(stories260k, out, o); err == nil {
				t.Errorf("%+v succeeded", o)
			}
		}
		if err := ModelQuantize(stories260k, stories260k, QuantizeOptions{FType: "Q8_0"}); err == nil {
			t.Error("quantizing a file onto itself succeeded")
		}
		// llama_model_quantize's own failure comes back with its log
		err := ModelQuantize(evalText, out, QuantizeOptions{FType: "Q8_0", Threads: testThreads})
		if err == nil || !strings.Contains(err.Error(), "magic") {
			t.Errorf("quantizing a text file: %v", err)
		}
		// a non-finite imatrix value is refused by llama.cpp
		err = ModelQuantize(stories260k, out, QuantizeOptions{FType: "Q4_0", Threads: testThreads,
			Imatrix: map[string][]float32{"blk.0.attn_q.weight": slices.Repeat([]float32{float32(math.NaN())}, 64)}})
		if err == nil || !strings.Contains(err.Error(), "non-finite") {
			t.Errorf("NaN imatrix: %v", err)
		}
	})
}

func sameTensorData(t *testing.T, a, b *gguf.File) {
	t.Helper()
	if len(a.Tensors) != len(b.Tensors) {
		t.Fatalf("%d vs %d tensors", len(a.Tensors), len(b.Tensors))
	}
	for i, ti := range a.Tensors {
		j := b.Tensor(ti.Name)
		if j < 0 {
			t.Errorf("%s missing", ti.Name)
			continue
		}
		da, err := a.TensorData(i)
		if err != nil {
			t.Fatal(err)
		}
		db, err := b.TensorData(j)
		if err != nil {
			t.Fatal(err)
		}
		if b.Tensors[j].Type != ti.Type || string(da) != string(db) {
			t.Errorf("%s differs", ti.Name)
		}
	}
}

func TestKLDivergenceQ8(t *testing.T) {
	var want oracleKLDRun
	goldenEntry(t, "oracle_kld.json", "q8_0", &want)
	var quant oracleQuant
	goldenEntry(t, "oracle_quantize.json", "Q8_0", &quant)
	path, f := quantized(t, "Q8_0", QuantizeOptions{})
	checkQuantized(t, path, f, quant)
	base := loadModel(t, stories260k, ModelOptions{})
	test := loadModel(t, path, ModelOptions{})
	r, err := KLDivergence(base, test, readText(t, evalText), PPLOptions{NCtx: 128, Threads: testThreads})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("exact: mean KLD %.8g ± %.3g (oracle %.8g), p99 %.6g, max %.6g, top-1 %.4f%% (oracle %.4f%%), PPL %.6g -> %.6g",
		r.MeanKLD, r.KLDErr, want.KLD.MeanKLD, r.P99, r.Max, r.Top1, want.KLD.Top1, r.PPLBase, r.PPLTest)
	t.Logf("compat: mean KLD %.8g (oracle %.8g), PPL base %.6g (oracle %.6g)", r.Compat.MeanKLD, want.Compat.MeanKLD,
		r.Compat.PPLBase, want.Compat.PPLBase)
	if !r.TestTokenizationIdentical || r.Chunks != want.NChunks {
		t.Errorf("tokenization identical %v, chunks %d", r.TestTokenizationIdentical, r.Chunks)
	}
	compareKLD(t, "exact", r.KLDStats, want.KLD, 1e-4, 1e-3)
	compareKLD(t, "compat", r.Compat, want.Compat, 1e-4, 1e-3)
	if len(r.KLD) != want.KLD.NPositions || slices.Max(r.KLD) != r.Max || slices.Min(r.KLD) != r.Min {
		t.Errorf("per-position KLD: %d values, max %g min %g vs %g %g", len(r.KLD), slices.Max(r.KLD), slices.Min(r.KLD), r.Max, r.Min)
	}

	// chunks of 2 decodes each (n_ctx > n_batch), and only 4 of them
	goldenEntry(t, "oracle_kld.json", "q8_0_batch64_chunks4", &want)
	r, err = KLDivergence(base, test, readText(t, evalText), PPLOptions{NCtx: 128, NBatch: 64, Chunks: 4, Threads: testThreads})
	if err != nil {
		t.Fatal(err)
	}
	if r.Chunks != 4 || len(r.KLD) != 4*63 {
		t.Errorf("%d chunks, %d positions, want 4, 252", r.Chunks, len(r.KLD))
	}
	compareKLD(t, "exact, n_batch 64", r.KLDStats, want.KLD, 1e-4, 1e-3)
	compareKLD(t, "compat, n_batch 64", r.Compat, want.Compat, 1e-4, 1e-3)
}
