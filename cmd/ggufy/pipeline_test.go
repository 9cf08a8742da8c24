package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ggufy/ggufy/pipeline"
)

// TestOneCommandWithRuntime runs the one command on the trained test model with validation by
// the runtime and an importance matrix computed on the embedded calibration text, then with a
// --max-kld no variant can meet (exit code 3).
func TestOneCommandWithRuntime(t *testing.T) {
	out := t.TempDir()
	var stdout bytes.Buffer
	app := newApp()
	app.Writer = &stdout
	args := []string{"ggufy", "convert", "../../testdata/models/tiny-trained", "-q", "Q4_K_M,Q8_0", "-o", out, "--eval", "default", "--imatrix", "auto", "--json", "--quiet"}
	if err := app.Run(interspersed(app, args)); err != nil {
		t.Fatal(err)
	}
	var rep pipeline.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout.String())
	}
	if len(rep.Variants) != 2 || rep.Imatrix != "imatrix.gguf" || rep.BasePPL <= 0 {
		t.Fatalf("report: %+v", rep)
	}
	for _, v := range rep.Variants {
		q := v.Quality
		if q == nil || q.KLDMean <= 0 || q.KLDMean > 0.05 || q.Top1 < 0.9 {
			t.Errorf("%s: quality %+v", v.Quant, q)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "imatrix.gguf")); err != nil {
		t.Error(err)
	}
	err := app.Run(interspersed(app, append(args, "--max-kld", "1e-9")))
	var ce checkError
	if !errors.As(err, &ce) || exitCode(err) != exitCheck {
		t.Errorf("--max-kld 1e-9: got %v (exit %d), want a check failure (exit %d)", err, exitCode(err), exitCheck)
	}
}
