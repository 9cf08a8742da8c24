package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ggufy/ggufy/archmap"
	"github.com/ggufy/ggufy/convert"
	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/hub"
	"github.com/ggufy/ggufy/hub/hubtest"
	"github.com/ggufy/ggufy/quantize"
)

// fakeEvaluator stands in for the runtime: it records calls and returns fixed numbers.
type fakeEvaluator struct {
	imatrixCalls, compareCalls int
	kld                        float64
}

func (f *fakeEvaluator) Imatrix(ctx context.Context, model string, text []byte) (*quantize.Imatrix, error) {
	f.imatrixCalls++
	return nil, errors.New("not used")
}

func (f *fakeEvaluator) Compare(ctx context.Context, base, test string, text []byte) (*Quality, error) {
	f.compareCalls++
	return &Quality{PPL: 10, PPLErr: 0.5, PPLBase: 9.5, KLDMean: f.kld, KLDP99: 3 * f.kld, KLDMax: 5 * f.kld, Top1: 0.9}, nil
}

// fakeHub serves testdata/models/tiny-trained as org/tiny-trained.
func fakeHub(t *testing.T) (*hubtest.Server, *hub.Client) {
	t.Helper()
	s := hubtest.New(t)
	s.AddUser("me", "tok-me")
	files := map[string][]byte{}
	src := "../testdata/models/tiny-trained"
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = b
	}
	s.CreateRepo("org/tiny-trained", hubtest.RepoOptions{CardData: map[string]any{"license": "apache-2.0"}}).Commit("main", "upload", files)
	c, err := hub.NewClient(hub.WithEndpoint(s.URL), hub.WithToken("tok-me"), hub.WithCacheDir(t.TempDir()), hub.WithProgress(nil))
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

// TestOneCommand runs the whole pipeline from a (fake) Hub repo: the variants must be
// byte-identical to quantizing each one separately, the report complete, the publish one
// commit, and a second run must reuse everything.
func TestOneCommand(t *testing.T) {
	s, client := fakeHub(t)
	out := t.TempDir()
	ev := &fakeEvaluator{kld: 0.01}
	spec := Spec{Source: "org/tiny-trained", Quants: []string{"Q4_K_M", "Q5_K_M", "q8_0"}, OutDir: out,
		Eval: DefaultEval(), Publish: "me/tiny-trained-GGUF", Hub: client, Evaluator: ev, QuantizedBy: "me"}
	rep, err := Run(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Variants) != 3 || rep.Published == nil || rep.Published.NoChanges {
		t.Fatalf("report: %+v", rep)
	}
	// Each variant equals `ggufy quantize` of the same checkpoint (the same files the Hub served).
	snap, err := client.Download(context.Background(), "org/tiny-trained", "", hub.DownloadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range rep.Variants {
		if len(v.Files) != 1 || !strings.HasPrefix(v.Files[0], "Tiny-Trained-5.2M-") || !strings.HasSuffix(v.Files[0], "-"+v.Quant+".gguf") {
			t.Errorf("%s: files %v", v.Quant, v.Files)
		}
		want := filepath.Join(t.TempDir(), "want.gguf")
		ft, _ := quantize.ParseFileType(v.Quant)
		p, err := archmap.Open(snap, gguf.FileTypeGuessed, archmap.Options{RepoID: "org/tiny-trained"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := convert.QuantizeInput(context.Background(), convert.PlanInput(p), want, convert.QuantizeOptions{Params: quantize.DefaultParams(ft)}); err != nil {
			t.Fatal(err)
		}
		a, _ := os.ReadFile(filepath.Join(out, v.Files[0]))
		b, _ := os.ReadFile(want)
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from a separate quantization", v.Quant)
		}
		if v.Quality == nil || v.Quality.KLDMean != 0.01 {
			t.Errorf("%s: quality %+v", v.Quant, v.Quality)
		}
	}
	for _, f := range []string{"report.md", "report.json", "report.png"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	md, _ := os.ReadFile(filepath.Join(out, "report.md"))
	for _, w := range []string{"| Q4_K_M |", "| Q5_K_M |", "| Q8_0 |", "0.010000", "90.00%"} {
		if !bytes.Contains(md, []byte(w)) {
			t.Errorf("report.md lacks %q", w)
		}
	}
	// One commit on the target, with the files, the report and the card.
	repo := s.Repo("me/tiny-trained-GGUF")
	if repo == nil {
		t.Fatal("target repo not created")
	}
	if n := len(repo.Commits("main")); n != 2 { // the creation commit and ours
		t.Errorf("%d commits", n)
	}
	files := repo.Files("main")
	for _, v := range rep.Variants {
		if _, ok := files[v.Files[0]]; !ok {
			t.Errorf("%s not published", v.Files[0])
		}
	}
	if card := string(files["README.md"]); !strings.Contains(card, "base_model: org/tiny-trained") || !strings.Contains(card, "Q4_K_M") {
		t.Errorf("model card:\n%s", card)
	}

	// Again: nothing is recomputed, evaluated or uploaded.
	ev.compareCalls = 0
	s.ResetLog()
	rep2, err := Run(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range rep2.Variants {
		if !v.Skipped {
			t.Errorf("%s was remade", v.Quant)
		}
	}
	if ev.compareCalls != 0 {
		t.Errorf("%d evaluations on the second run", ev.compareCalls)
	}
	if rep2.Published == nil || !rep2.Published.NoChanges {
		t.Errorf("second publish: %+v", rep2.Published)
	}
	var js Report
	b, _ := os.ReadFile(filepath.Join(out, "report.json"))
	if err := json.Unmarshal(b, &js); err != nil || len(js.Variants) != 3 {
		t.Errorf("report.json: %v", err)
	}
}

func TestMaxKLD(t *testing.T) {
	out := t.TempDir()
	_, err := Run(context.Background(), Spec{Source: "../testdata/models/stories260k", Quants: []string{"Q8_0"}, OutDir: out,
		Eval: DefaultEval(), MaxKLD: 0.05, Evaluator: &fakeEvaluator{kld: 0.2}})
	if !errors.Is(err, ErrQuality) || !strings.Contains(err.Error(), "Q8_0") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "report.json")); err != nil {
		t.Error("no report after a failed check")
	}
}
