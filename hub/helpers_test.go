package hub_test

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ggufy/ggufy/hub"
	"github.com/ggufy/ggufy/hub/hubtest"
)

// fastRetry keeps fault tests quick.
var fastRetry = hub.RetryPolicy{MaxRetries: 3, BaseWait: time.Millisecond, MaxWait: 2 * time.Millisecond}

// newClient makes a client on the fake Hub with its own empty cache, ignoring the
// developer's environment (token, offline mode).
func newClient(t *testing.T, s *hubtest.Server, opts ...hub.Option) *hub.Client {
	t.Helper()
	base := []hub.Option{
		hub.WithEndpoint(s.URL), hub.WithCacheDir(t.TempDir()), hub.WithToken(""),
		hub.WithOffline(false), hub.WithProgress(nil), hub.WithRetry(fastRetry), hub.WithLogf(t.Logf),
	}
	c, err := hub.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// pseudo makes n deterministic bytes.
func pseudo(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

// tinyModel is a repo in the shape of a sharded transformers checkpoint, with extra files
// conversion does not need (a consolidated copy, ONNX, a README, pytorch weights).
func tinyModel() map[string][]byte {
	index := `{"metadata": {"total_size": 300000}, "weight_map": {
		"model.embed_tokens.weight": "model-00001-of-00002.safetensors",
		"model.layers.0.mlp.up_proj.weight": "model-00001-of-00002.safetensors",
		"lm_head.weight": "model-00002-of-00002.safetensors"}}`
	return map[string][]byte{
		"config.json":                       []byte(`{"architectures": ["LlamaForCausalLM"], "hidden_size": 64}`),
		"generation_config.json":            []byte(`{"bos_token_id": 1}`),
		"tokenizer.json":                    []byte(`{"model": {"type": "BPE"}}`),
		"tokenizer_config.json":             []byte(`{"chat_template": "{{ messages }}"}`),
		"special_tokens_map.json":           []byte(`{}`),
		"README.md":                         []byte("# tiny\n"),
		"model.safetensors.index.json":      []byte(index),
		"model-00001-of-00002.safetensors":  pseudo(200_000, 1),
		"model-00002-of-00002.safetensors":  pseudo(100_000, 2),
		"consolidated.safetensors":          pseudo(300_000, 3),
		"pytorch_model.bin":                 pseudo(1000, 4),
		"onnx/model.onnx":                   pseudo(1000, 5),
		"additional_chat_templates/x.jinja": []byte("{{ x }}"),
	}
}

// conversionFiles is what the default selection must fetch from tinyModel.
var conversionFiles = []string{
	"additional_chat_templates/x.jinja",
	"config.json",
	"generation_config.json",
	"model-00001-of-00002.safetensors",
	"model-00002-of-00002.safetensors",
	"model.safetensors.index.json",
	"special_tokens_map.json",
	"tokenizer.json",
	"tokenizer_config.json",
}

// snapshotFiles lists the files under a snapshot folder (following links), with contents.
func snapshotFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func keys(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkLayout checks a snapshot the way huggingface_hub lays it out: every file a relative
// symlink into ../blobs named by its etag (sha256 for LFS, git sha1 otherwise), no leftovers.
func checkLayout(t *testing.T, s *hubtest.Server, repoID, snap string, want map[string][]byte) {
	t.Helper()
	got := snapshotFiles(t, snap)
	if strings.Join(keys(got), ",") != strings.Join(keys(want), ",") {
		t.Fatalf("snapshot files:\n got %v\nwant %v", keys(got), keys(want))
	}
	repoDir := filepath.Dir(filepath.Dir(snap))
	sha := filepath.Base(snap)
	for p, data := range want {
		if !bytes.Equal(got[p], data) {
			t.Errorf("%s: content differs", p)
		}
		ptr := filepath.Join(snap, filepath.FromSlash(p))
		target, err := os.Readlink(ptr)
		if err != nil {
			t.Errorf("%s is not a symlink: %v", p, err)
			continue
		}
		if filepath.IsAbs(target) {
			t.Errorf("%s -> %s is absolute", p, target)
		}
		wantTarget := strings.Repeat("../", strings.Count(p, "/")+2) + "blobs/"
		if !strings.HasPrefix(target, wantTarget) {
			t.Errorf("%s -> %s, want %s...", p, target, wantTarget)
		}
		etag := filepath.Base(target)
		if s.Repo(repoID).IsLFS(sha, p) {
			sum := sha256.Sum256(data)
			if etag != hex.EncodeToString(sum[:]) {
				t.Errorf("%s: LFS blob named %s, want its sha256", p, etag)
			}
		} else if etag != gitOID(data) {
			t.Errorf("%s: blob named %s, want git oid %s", p, etag, gitOID(data))
		}
	}
	entries, _ := os.ReadDir(filepath.Join(repoDir, "blobs"))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".") {
			t.Errorf("leftover in blobs: %s", e.Name())
		}
	}
}

func gitOID(data []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(data))
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

// syncBuffer is a bytes.Buffer safe for the progress painter goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
