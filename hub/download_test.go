package hub_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ggufy/ggufy/hub"
	"github.com/ggufy/ggufy/hub/hubtest"
)

func setup(t *testing.T) (*hubtest.Server, *hubtest.Repo, map[string][]byte) {
	t.Helper()
	s := hubtest.New(t)
	files := tinyModel()
	r := s.CreateRepo("acme/tiny", hubtest.RepoOptions{CardData: map[string]any{"license": "apache-2.0"}})
	r.Commit("main", "add model", files)
	return s, r, files
}

func subset(all map[string][]byte, names []string) map[string][]byte {
	out := map[string][]byte{}
	for _, n := range names {
		out[n] = all[n]
	}
	return out
}

func TestDownloadDefaultSelection(t *testing.T) {
	s, r, files := setup(t)
	c := newClient(t, s)
	snap, err := c.Download(context.Background(), "acme/tiny", "", hub.DownloadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sha := r.Head("main")
	if want := filepath.Join(c.CacheDir(), "models--acme--tiny", "snapshots", sha); snap != want {
		t.Fatalf("snapshot %s, want %s", snap, want)
	}
	checkLayout(t, s, "acme/tiny", snap, subset(files, conversionFiles))
	ref, err := os.ReadFile(filepath.Join(c.CacheDir(), "models--acme--tiny", "refs", "main"))
	if err != nil || string(ref) != sha {
		t.Fatalf("refs/main = %q, %v; want %s without newline", ref, err, sha)
	}
	// The consolidated copy, ONNX and pytorch weights were never requested.
	for _, p := range []string{"consolidated.safetensors", "pytorch_model.bin", "onnx/model.onnx", "README.md"} {
		if n := s.Count("", p); n != 0 {
			t.Errorf("%s requested %d times", p, n)
		}
	}
	// A second run is served by the cache: one revision call, no file transfer.
	s.ResetLog()
	if snap2, err := c.Download(context.Background(), "acme/tiny", "main", hub.DownloadOptions{}); err != nil || snap2 != snap {
		t.Fatalf("second run: %s, %v", snap2, err)
	}
	if reqs := s.Requests(); len(reqs) != 1 || !strings.Contains(reqs[0].Path, "/revision/main") {
		t.Fatalf("second run made requests %+v", reqs)
	}
}

func TestDownloadOfflineGivesSameSnapshot(t *testing.T) {
	s, _, files := setup(t)
	cache := t.TempDir()
	c := newClient(t, s, hub.WithCacheDir(cache))
	snap, err := c.Download(context.Background(), "acme/tiny", "main", hub.DownloadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.ResetLog()
	t.Setenv("HF_HUB_OFFLINE", "1")
	t.Setenv("HF_HUB_CACHE", cache)
	t.Setenv("HF_ENDPOINT", "http://127.0.0.1:1") // nothing listens: any request would fail
	off, err := hub.NewClient(hub.WithProgress(nil), hub.WithLogf(t.Logf))
	if err != nil {
		t.Fatal(err)
	}
	if !off.Offline() || off.CacheDir() != cache {
		t.Fatalf("env not honoured: offline=%v cache=%s", off.Offline(), off.CacheDir())
	}
	snap2, err := off.Download(context.Background(), "acme/tiny", "main", hub.DownloadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if snap2 != snap {
		t.Fatalf("offline snapshot %s, online %s", snap2, snap)
	}
	checkLayout(t, s, "acme/tiny", snap2, subset(files, conversionFiles))
	if n := len(s.Requests()); n != 0 {
		t.Fatalf("offline run made %d requests", n)
	}
	// Resolve offline answers from the cache.
	ri, err := off.Resolve(context.Background(), "acme/tiny", "main")
	if err != nil || !ri.FromCache || ri.SHA != filepath.Base(snap) || len(ri.Files) != len(conversionFiles) {
		t.Fatalf("offline Resolve = %+v, %v", ri, err)
	}
	// Asking for more than the cache holds fails clearly.
	_, err = off.Download(context.Background(), "acme/tiny", "main", hub.DownloadOptions{Include: []string{"*.onnx"}})
	if !errors.Is(err, hub.ErrIncomplete) || !errors.Is(err, hub.ErrOffline) {
		t.Fatalf("include beyond the cache: %v", err)
	}
	_, err = off.Download(context.Background(), "acme/other", "main", hub.DownloadOptions{})
	if !errors.Is(err, hub.ErrOffline) || !strings.Contains(err.Error(), "HF_HUB_OFFLINE") {
		t.Fatalf("uncached repo offline: %v", err)
	}
}

func TestDownloadFallsBackToCacheWhenHubIsDown(t *testing.T) {
	s, _, _ := setup(t)
	c := newClient(t, s)
	snap, err := c.Download(context.Background(), "acme/tiny", "main", hub.DownloadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.AddFault(hubtest.Fault{Stage: hubtest.StageAPI, Status: 503})
	got, err := c.Download(context.Background(), "acme/tiny", "main", hub.DownloadOptions{})
	if err != nil || got != snap {
		t.Fatalf("with the Hub down: %s, %v", got, err)
	}
	// But not for another revision: the real error comes back.
	_, err = c.Download(context.Background(), "acme/tiny", "v2", hub.DownloadOptions{})
	if !errors.Is(err, hub.ErrServer) {
		t.Fatalf("uncached revision with the Hub down: %v", err)
	}
}

func TestDownloadRevisions(t *testing.T) {
	s, r, files := setup(t)
	first := r.Head("main")
	r.Tag("v1", first)
	r.Commit("main", "update config", map[string][]byte{"config.json": []byte(`{"hidden_size": 128}`)})
	c := newClient(t, s)
	ctx := context.Background()

	snap, err := c.Download(ctx, "acme/tiny", "v1", hub.DownloadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(snap) != first {
		t.Fatalf("v1 resolved to %s, want %s", filepath.Base(snap), first)
	}
	if ref, _ := os.ReadFile(filepath.Join(c.CacheDir(), "models--acme--tiny", "refs", "v1")); string(ref) != first {
		t.Fatalf("refs/v1 = %q", ref)
	}
	snapMain, err := c.Download(ctx, "acme/tiny", "main", hub.DownloadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := snapshotFiles(t, snapMain)
	if string(got["config.json"]) != `{"hidden_size": 128}` {
		t.Fatalf("main config = %s", got["config.json"])
	}
	// Shards are shared between the two snapshots: same blob, fetched once.
	if n := s.Count(http.MethodGet, "/repos/"); n != 2 {
		t.Errorf("%d LFS fetches, want 2 (one per shard)", n)
	}
	// A commit sha is used as is, and writes no ref.
	snapSHA, err := c.Download(ctx, "acme/tiny", first, hub.DownloadOptions{})
	if err != nil || snapSHA != snap {
		t.Fatalf("by sha: %s, %v", snapSHA, err)
	}
	if _, err := os.Stat(filepath.Join(c.CacheDir(), "models--acme--tiny", "refs", first)); !os.IsNotExist(err) {
		t.Fatalf("a ref was written for a commit sha: %v", err)
	}
	_ = files
}

func TestDownloadIncludeExclude(t *testing.T) {
	s, _, files := setup(t)
	c := newClient(t, s)
	snap, err := c.Download(context.Background(), "acme/tiny", "main", hub.DownloadOptions{
		Include: []string{"*.json", "onnx/"}, Exclude: []string{"tokenizer*"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := subset(files, []string{"config.json", "generation_config.json", "model.safetensors.index.json", "special_tokens_map.json", "onnx/model.onnx"})
	checkLayout(t, s, "acme/tiny", snap, want)

	_, err = c.Download(context.Background(), "acme/tiny", "main", hub.DownloadOptions{Include: []string{"*.gguf"}})
	if err == nil || !strings.Contains(err.Error(), "no file matches") {
		t.Fatalf("include matching nothing: %v", err)
	}
}

func TestDownloadPytorchOnlyWhenNoSafetensors(t *testing.T) {
	s := hubtest.New(t)
	r := s.CreateRepo("old/bert", hubtest.RepoOptions{})
	files := map[string][]byte{
		"config.json":       []byte(`{}`),
		"vocab.txt":         []byte("[PAD]\n"),
		"pytorch_model.bin": pseudo(5000, 9),
		"tf_model.h5":       pseudo(5000, 8),
	}
	r.Commit("main", "legacy", files)
	c := newClient(t, s)
	snap, err := c.Download(context.Background(), "old/bert", "", hub.DownloadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, s, "old/bert", snap, subset(files, []string{"config.json", "vocab.txt", "pytorch_model.bin"}))

	s.CreateRepo("old/empty", hubtest.RepoOptions{}).Commit("main", "x", map[string][]byte{"config.json": []byte("{}")})
	_, err = c.Download(context.Background(), "old/empty", "", hub.DownloadOptions{})
	if err == nil || !strings.Contains(err.Error(), "no safetensors or pytorch_model") {
		t.Fatalf("repo without weights: %v", err)
	}
}

func TestDownloadErrors(t *testing.T) {
	s, _, _ := setup(t)
	s.AddUser("alice", "hf_alice")
	s.AddUser("bob", "hf_bob")
	g := s.CreateRepo("meta/gated", hubtest.RepoOptions{Gated: true})
	g.Commit("main", "weights", tinyModel())
	g.Grant("alice")
	p := s.CreateRepo("alice/secret", hubtest.RepoOptions{Private: true})
	p.Commit("main", "weights", tinyModel())
	ctx := context.Background()

	anon := newClient(t, s)
	bob := newClient(t, s, hub.WithToken("hf_bob"))
	alice := newClient(t, s, hub.WithToken("hf_alice"))
	bad := newClient(t, s, hub.WithToken("hf_typo"))

	cases := []struct {
		name   string
		c      *hub.Client
		repo   string
		rev    string
		kind   error
		status int
		hint   string
	}{
		{"gated anonymous", anon, "meta/gated", "", hub.ErrGated, 401, "request access at " + s.URL + "/meta/gated"},
		{"gated not granted", bob, "meta/gated", "", hub.ErrGated, 403, "not on its authorized list"},
		{"private anonymous", anon, "alice/secret", "", hub.ErrRepoNotFound, 401, "set HF_TOKEN"},
		{"private other user", bob, "alice/secret", "", hub.ErrRepoNotFound, 404, "the token must belong"},
		{"missing repo", anon, "acme/nope", "", hub.ErrRepoNotFound, 401, `check the name "acme/nope"`},
		{"missing revision", anon, "acme/tiny", "v9", hub.ErrRevisionNotFound, 404, `no branch, tag or commit "v9"`},
		{"bad token", bad, "acme/tiny", "", hub.ErrUnauthorized, 401, "refused the token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.c.Download(ctx, tc.repo, tc.rev, hub.DownloadOptions{})
			if !errors.Is(err, tc.kind) {
				t.Fatalf("got %v, want %v", err, tc.kind)
			}
			var he *hub.Error
			if !errors.As(err, &he) || he.StatusCode != tc.status || !strings.Contains(err.Error(), tc.hint) {
				t.Fatalf("got %v (status %d), want status %d and hint %q", err, he.StatusCode, tc.status, tc.hint)
			}
			// Nothing half-made stays in the cache.
			blobs, _ := filepath.Glob(filepath.Join(tc.c.CacheDir(), "*", "blobs", "*"))
			if len(blobs) != 0 {
				t.Fatalf("blobs left: %v", blobs)
			}
		})
	}
	if _, err := alice.Download(ctx, "meta/gated", "", hub.DownloadOptions{}); err != nil {
		t.Fatalf("granted user: %v", err)
	}
	if _, err := alice.Download(ctx, "alice/secret", "", hub.DownloadOptions{}); err != nil {
		t.Fatalf("owner of a private repo: %v", err)
	}
	// The token went to the Hub, never to the CDN (which, like S3, would answer 400).
	for _, r := range s.Requests() {
		if r.Host == "cdn" && r.Auth {
			t.Fatalf("Authorization sent to the CDN: %+v", r)
		}
	}
}

func TestDownloadFileAndNoExist(t *testing.T) {
	s, r, files := setup(t)
	c := newClient(t, s)
	ctx := context.Background()
	p, err := c.DownloadFile(ctx, "acme/tiny", "main", "model-00002-of-00002.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != string(files["model-00002-of-00002.safetensors"]) {
		t.Fatal("content differs")
	}
	sha := r.Head("main")
	_, err = c.DownloadFile(ctx, "acme/tiny", "main", "chat_template.jinja")
	if !errors.Is(err, hub.ErrEntryNotFound) {
		t.Fatalf("missing file: %v", err)
	}
	marker := filepath.Join(c.CacheDir(), "models--acme--tiny", ".no_exist", sha, "chat_template.jinja")
	if st, err := os.Stat(marker); err != nil || st.Size() != 0 {
		t.Fatalf(".no_exist marker: %v", err)
	}
	// Offline, both answers come from the cache.
	off := newClient(t, s, hub.WithCacheDir(c.CacheDir()), hub.WithOffline(true))
	s.ResetLog()
	if q, err := off.DownloadFile(ctx, "acme/tiny", "main", "model-00002-of-00002.safetensors"); err != nil || q != p {
		t.Fatalf("offline cached file: %s, %v", q, err)
	}
	if _, err := off.DownloadFile(ctx, "acme/tiny", "main", "chat_template.jinja"); !errors.Is(err, hub.ErrEntryNotFound) {
		t.Fatalf("offline .no_exist: %v", err)
	}
	if _, err := off.DownloadFile(ctx, "acme/tiny", "main", "tokenizer.model"); !errors.Is(err, hub.ErrOffline) {
		t.Fatalf("offline unknown file: %v", err)
	}
	if n := len(s.Requests()); n != 0 {
		t.Fatalf("offline made %d requests", n)
	}
	// By commit sha, a cached file needs no network even online.
	if q, err := c.DownloadFile(ctx, "acme/tiny", sha, "model-00002-of-00002.safetensors"); err != nil || q != p {
		t.Fatalf("by sha: %s %v", q, err)
	}
	if n := len(s.Requests()); n != 0 {
		t.Fatalf("cached file by sha made %d requests", n)
	}
}

func TestDownloadProgress(t *testing.T) {
	s, _, _ := setup(t)
	var buf syncBuffer
	c := newClient(t, s, hub.WithProgress(&buf))
	if _, err := c.Download(context.Background(), "acme/tiny", "main", hub.DownloadOptions{}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"model-00001-of-00002.safetensors", "config.json", "acme/tiny@", "100%"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress output lacks %q:\n%s", want, out)
		}
	}
}

func TestDownloadConcurrentClientsShareBlobs(t *testing.T) {
	s, _, files := setup(t)
	cache := t.TempDir()
	errs := make(chan error, 3)
	snaps := make(chan string, 3)
	for range 3 {
		c := newClient(t, s, hub.WithCacheDir(cache))
		go func() {
			snap, err := c.Download(context.Background(), "acme/tiny", "main", hub.DownloadOptions{})
			errs <- err
			snaps <- snap
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	checkLayout(t, s, "acme/tiny", <-snaps, subset(files, conversionFiles))
}

func TestNewClientEnvironment(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HF_HOME", home)
	t.Setenv("HF_HUB_CACHE", "")
	t.Setenv("HUGGINGFACE_HUB_CACHE", "")
	t.Setenv("HF_TOKEN", "")
	t.Setenv("HUGGING_FACE_HUB_TOKEN", "")
	t.Setenv("HF_TOKEN_PATH", "")
	t.Setenv("HF_ENDPOINT", "https://hf-mirror.example/")
	t.Setenv("HF_HUB_OFFLINE", "")
	os.WriteFile(filepath.Join(home, "token"), []byte("hf_fromfile\n"), 0o600)
	c, err := hub.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	if c.CacheDir() != filepath.Join(home, "hub") || c.Endpoint() != "https://hf-mirror.example" || !c.HasToken() || c.Offline() {
		t.Fatalf("cache %s endpoint %s token %v offline %v", c.CacheDir(), c.Endpoint(), c.HasToken(), c.Offline())
	}
	t.Setenv("HF_HUB_CACHE", "$HF_HOME/elsewhere")
	t.Setenv("HF_HUB_OFFLINE", "yes")
	if c, _ = hub.NewClient(); c.CacheDir() != filepath.Join(home, "elsewhere") || !c.Offline() {
		t.Fatalf("HF_HUB_CACHE with a variable: %s, offline %v", c.CacheDir(), c.Offline())
	}
	// The token file is only a fallback, and the token is sent as a bearer.
	s := hubtest.New(t)
	s.AddUser("carol", "hf_env")
	s.CreateRepo("carol/p", hubtest.RepoOptions{Private: true}).Commit("main", "x", map[string][]byte{"model.safetensors": pseudo(10, 1)})
	t.Setenv("HF_TOKEN", "hf_env")
	t.Setenv("HF_HUB_OFFLINE", "0")
	t.Setenv("HF_ENDPOINT", s.URL)
	c, err = hub.NewClient(hub.WithProgress(nil), hub.WithCacheDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Download(context.Background(), "carol/p", "", hub.DownloadOptions{All: true}); err != nil {
		t.Fatalf("HF_TOKEN not used: %v", err)
	}
	_ = time.Second
}
