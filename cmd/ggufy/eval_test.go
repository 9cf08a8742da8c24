package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/quantize"
	"github.com/ggufy/ggufy/runtime"
	"github.com/urfave/cli/v2"
)

const (
	tinyDir  = "../../testdata/models/tiny-trained"
	tinyText = "../../testdata/text/tiny-trained-eval-small.txt"
)

func runApp(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	app := newApp()
	app.Writer = &out
	app.ErrWriter = &out
	app.ExitErrHandler = func(*cli.Context, error) {} // return usage errors instead of exiting
	err := app.RunContext(context.Background(), interspersed(app, append([]string{"ggufy"}, args...)))
	return out.String(), err
}

func TestPplCommand(t *testing.T) {
	out, err := runApp(t, "ppl", tinyDir, tinyText, "--ctx", "128", "--chunks", "3", "--json", "-q")
	if err != nil {
		t.Fatal(err, out)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"chunks", "ctx", "ppl", "ppl_err", "tokens"}) {
		t.Errorf("keys %v", keys)
	}
	m, err := runtime.Load(tinyDir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	text, _ := os.ReadFile(tinyText)
	want, err := runtime.Perplexity(context.Background(), m, string(text), nil, runtime.WithCtx(128), runtime.WithChunks(3))
	if err != nil {
		t.Fatal(err)
	}
	if got["ppl"].(float64) != want.PPL || got["ppl_err"].(float64) != want.PPLErr || got["chunks"].(float64) != 3 ||
		got["ctx"].(float64) != 128 || got["tokens"].(float64) != float64(want.Tokens) {
		t.Errorf("ppl --json %v, runtime %+v", got, want)
	}
	out, err = runApp(t, "ppl", "--ctx", "128", "--chunks", "2", "-q", tinyDir, tinyText)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "[1]") || !strings.Contains(out, "[2]") || !strings.Contains(out, "Final estimate: PPL = ") {
		t.Errorf("ppl output:\n%s", out)
	}
	if _, err := runApp(t, "ppl", tinyDir); exitCode(err) != exitUsage {
		t.Errorf("ppl with one argument: %v", err)
	}
	if _, err := runApp(t, "ppl", "--ctx", "2", tinyDir, tinyText); exitCode(err) != exitUsage {
		t.Errorf("ppl --ctx 2: %v", err)
	}
}

func TestCompareCommand(t *testing.T) {
	out, err := runApp(t, "compare", tinyDir, tinyDir, tinyText, "--ctx", "128", "--chunks", "2", "--json", "-q")
	if err != nil {
		t.Fatal(err, out)
	}
	var got map[string]float64
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	if len(got) != 6 || got["kld_mean"] != 0 || got["kld_p99"] != 0 || got["kld_max"] != 0 || got["top1"] != 100 ||
		got["ppl_base"] != got["ppl_test"] || math.IsNaN(got["ppl_base"]) || got["ppl_base"] <= 1 {
		t.Errorf("self comparison: %v", got)
	}
	out, err = runApp(t, "compare", "-q", "--ctx", "128", "--chunks", "2", tinyDir, tinyDir, tinyText)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Mean PPL(Q)/PPL(base)         :   1.000000", "Mean    KLD:   0.000000", "Same top p: 100.000"} {
		if !strings.Contains(out, s) {
			t.Errorf("compare output lacks %q:\n%s", s, out)
		}
	}
}

func TestImatrixCommand(t *testing.T) {
	dir := t.TempDir()
	im := filepath.Join(dir, "imatrix.gguf")
	out, err := runApp(t, "imatrix", tinyDir, tinyText, "--ctx", "128", "--chunks", "2", "-o", im, "-q")
	if err != nil {
		t.Fatal(err, out)
	}
	m, err := quantize.ReadImatrix(im)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Entries) != 4*7 || m.ChunkCount != 2 || m.ChunkSize != 128 || !slices.Equal(m.Datasets, []string{tinyText}) {
		t.Errorf("%d entries, %d chunks of %d, datasets %v", len(m.Entries), m.ChunkCount, m.ChunkSize, m.Datasets)
	}
	// quantize --imatrix takes it
	q := filepath.Join(dir, "tiny.iq4_xs.gguf")
	if out, err := runApp(t, "quantize", "--imatrix", im, "-q", tinyDir, q, "IQ4_XS"); err != nil {
		t.Fatal(err, out)
	}
	f, err := gguf.Open(q)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := f.Meta.GetString("quantize.imatrix.file"); got != im {
		t.Errorf("quantize.imatrix.file = %q, want %q", got, im)
	}
	if n := f.Meta.GetInt("quantize.imatrix.entries_count", -1); n != 28 {
		t.Errorf("quantize.imatrix.entries_count = %d", n)
	}
}
