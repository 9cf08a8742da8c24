package convert

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ggufy/ggufy/archmap"
	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/internal/manifest"
)

// provenance reports the general.* keys that describe where a model came from rather than what
// it is; they may legitimately differ from llama.cpp's output.
func provenance(key string) bool {
	switch key {
	case "general.architecture", "general.type", "general.file_type", "general.quantization_version", "general.alignment":
		return false
	}
	return strings.HasPrefix(key, "general.")
}

// convertAndDiff converts the checkpoint ckpt at outtype into a temporary file named name and
// requires the tensors and metadata of the llama.cpp manifest at ref; the general.* provenance
// keys are reported, not required to match. It returns the output path and both manifests.
func convertAndDiff(t *testing.T, ckpt, ref, outtype, name string, aopts archmap.Options) (out string, got, want *manifest.Manifest) {
	t.Helper()
	want, err := manifest.Load(ref)
	if err != nil {
		t.Fatal(err)
	}
	ft, err := ParseOutType(outtype)
	if err != nil {
		t.Fatal(err)
	}
	out = filepath.Join(t.TempDir(), name)
	if _, err := File(context.Background(), ckpt, out, ft, aopts, Options{}); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err = manifest.FromFile(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, diff := range manifest.Diff(got, want, provenance) {
		t.Error(diff)
	}
	// The tensor lines of this second diff repeat the first one's.
	for _, diff := range manifest.Diff(got, want, func(k string) bool { return !provenance(k) }) {
		if strings.HasPrefix(diff, "kv ") {
			t.Log("provenance:", diff)
		}
	}
	return out, got, want
}

// TestFixturesMatchLlamaCpp converts the fixture checkpoints at every outtype llama.cpp's
// converter was run with and compares the result with its output, tensor for tensor and key for
// key.
func TestFixturesMatchLlamaCpp(t *testing.T) {
	refs, _ := filepath.Glob("../testdata/ref/*.gguf.json")
	if len(refs) == 0 {
		t.Fatal("no reference manifests in testdata/ref")
	}
	for _, ref := range refs {
		base := strings.TrimSuffix(filepath.Base(ref), ".gguf.json")
		model, outtype, _ := strings.Cut(base, ".")
		t.Run(base, func(t *testing.T) {
			out, _, want := convertAndDiff(t, filepath.Join("../testdata/models", model), ref, outtype, base+".gguf", archmap.Options{})
			if st, _ := os.Stat(out); st != nil && st.Size() != want.FileSize {
				t.Logf("file size %d, llama.cpp's %d", st.Size(), want.FileSize)
			}
		})
	}
}
