package convert

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ggufy/ggufy/archmap"
	"github.com/ggufy/ggufy/internal/testmodel"
)

// materialize rebuilds a testdata/families checkpoint (named after its variant, as the
// references were made). Without the tokenizer cache of scripts/testmodels.sh the test is
// skipped, unless GGUFY_REQUIRE_TESTMODELS is set (scripts/test.sh sets it).
func materialize(t *testing.T, familyDir string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(familyDir))
	err := testmodel.Materialize(familyDir, out)
	if errors.Is(err, testmodel.ErrNoCache) && os.Getenv("GGUFY_REQUIRE_TESTMODELS") == "" {
		t.Skipf("%v (run scripts/testmodels.sh)", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFamiliesMatchLlamaCpp converts every family's test checkpoint (real configs scaled down,
// real tokenizers, tensors as transformers saves them) at every outtype and compares with what
// llama.cpp's converter wrote from the same checkpoint with real transformers installed (hence
// TransformersConfig).
func TestFamiliesMatchLlamaCpp(t *testing.T) {
	variants, err := testmodel.Variants("../testdata/families")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range variants {
		famDir := filepath.Join("../testdata/families", v)
		refs, _ := filepath.Glob(filepath.Join(famDir, "ref", "*.gguf.json"))
		if len(refs) == 0 {
			continue
		}
		t.Run(v, func(t *testing.T) {
			dir := materialize(t, famDir)
			for _, ref := range refs {
				base := strings.TrimSuffix(filepath.Base(ref), ".gguf.json")
				_, outtype, _ := strings.Cut(base, ".")
				t.Run(outtype, func(t *testing.T) {
					convertAndDiff(t, dir, ref, outtype, base+".gguf", archmap.Options{TransformersConfig: true})
				})
			}
		})
	}
}
