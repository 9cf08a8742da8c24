package hub

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ggufy/ggufy/hub/hubtest"
)

func TestFnmatchLikePython(t *testing.T) {
	// Expectations from Python's fnmatch.fnmatch on POSIX.
	for _, tc := range []struct {
		pat, name string
		want      bool
	}{
		{"*.json", "config.json", true},
		{"*.json", "sub/dir/config.json", true}, // '*' crosses '/'
		{"*.safetensors", "model.safetensors.index.json", false},
		{"model-*-of-*.safetensors", "model-00001-of-00002.safetensors", true},
		{"tokenizer?json", "tokenizer.json", true},
		{"[abc]*", "b.txt", true},
		{"[!abc]*", "b.txt", false},
		{"[!abc]*", "d.txt", true},
		{"[a-c]x", "bx", true},
		{"[]]x", "]x", true},
		{"[", "[", true},
		{"a[", "a[", true},
		{"*.[jJ][sS][oO][nN]", "x.JSON", true},
		{"onnx/*", "onnx/model.onnx", true},
		{"onnx/*", "model.onnx", false},
		{"*", "", true},
		{"a.b", "aXb", false},
		{"^x$", "^x$", true},
		{`\d`, `\d`, true},
		{"模型-*.gguf", "模型-Q4_K_M.gguf", true}, // non-ASCII literals stay whole runes
		{"é?", "éx", true},
		{"?.txt", "é.txt", true},
		{"\xff", "\xff", true}, // invalid UTF-8: compared as a literal
		{"\xff", "ÿ", false},
	} {
		if got := fnmatch(tc.pat, tc.name); got != tc.want {
			t.Errorf("fnmatch(%q, %q) = %v, want %v", tc.pat, tc.name, got, tc.want)
		}
	}
	if got := filterPatterns([]string{"onnx/a", "onnx/b/c", "x"}, []string{"onnx/"}, nil); strings.Join(got, ",") != "onnx/a,onnx/b/c" {
		t.Errorf("folder pattern: %v", got)
	}
}

func TestPlanWeights(t *testing.T) {
	for _, tc := range []struct {
		files   []string
		index   string
		weights string
	}{
		{[]string{"model.safetensors.index.json", "model-00001-of-00002.safetensors", "consolidated.safetensors"}, "model.safetensors.index.json", ""},
		{[]string{"model.safetensors", "pytorch_model.bin"}, "", "model.safetensors"},
		{[]string{"adapter.safetensors", "sub/model.safetensors"}, "", "adapter.safetensors"},
		{[]string{"pytorch_model.bin.index.json", "pytorch_model-00001-of-00002.bin"}, "pytorch_model.bin.index.json", ""},
		{[]string{"pytorch_model.bin", "tf_model.h5"}, "", "pytorch_model.bin"},
		{[]string{"pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"}, "", "pytorch_model-00001-of-00002.bin,pytorch_model-00002-of-00002.bin"},
		{[]string{"model.gguf"}, "", ""},
	} {
		p := planWeights(tc.files)
		if p.index != tc.index || strings.Join(p.weights, ",") != tc.weights {
			t.Errorf("planWeights(%v) = %+v", tc.files, p)
		}
	}
	shards, err := indexShards([]byte(`{"weight_map": {"a": "s2.safetensors", "b": "s1.safetensors", "c": "s2.safetensors"}}`), "model.safetensors.index.json")
	if err != nil || strings.Join(shards, ",") != "s1.safetensors,s2.safetensors" {
		t.Errorf("indexShards = %v, %v", shards, err)
	}
	if _, err := indexShards([]byte(`{"weight_map": {"a": "../../etc/passwd"}}`), "model.safetensors.index.json"); err == nil {
		t.Error("an index naming a file outside the repo was accepted")
	}
}

func TestNoSpaceStopsBeforeDownloading(t *testing.T) {
	s := hubtest.New(t)
	r := s.CreateRepo("acme/big", hubtest.RepoOptions{})
	r.Commit("main", "w", map[string][]byte{"config.json": []byte("{}"), "model.safetensors": make([]byte, 100_000)})
	old := diskFree
	diskFree = func(string) (int64, bool) { return 50_000, true }
	defer func() { diskFree = old }()
	c, err := NewClient(WithEndpoint(s.URL), WithCacheDir(t.TempDir()), WithToken(""), WithOffline(false), WithProgress(nil))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Download(context.Background(), "acme/big", "", DownloadOptions{})
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "48.8 KiB free") {
		t.Fatalf("got %v", err)
	}
	if n := s.Count(http.MethodGet, "/resolve/"); n != 0 {
		t.Fatalf("%d downloads started", n)
	}
}

func TestParseRepoRef(t *testing.T) {
	for _, tc := range []struct {
		in, id, rev, err string
	}{
		{"Qwen/Qwen2.5-0.5B-Instruct", "Qwen/Qwen2.5-0.5B-Instruct", "", ""},
		{"org/name@v1.0", "org/name", "v1.0", ""},
		{"org/name@refs/pr/3", "org/name", "refs/pr/3", ""},
		{"gpt2", "gpt2", "", ""},
		{"https://huggingface.co/org/name", "org/name", "", ""},
		{"https://huggingface.co/org/name/tree/dev", "org/name", "dev", ""},
		{"https://huggingface.co/org/name/tree/refs%2Fpr%2F1", "org/name", "refs/pr/1", ""},
		{"hf.co/org/name@abc", "org/name", "abc", ""},
		{"org/name@", "", "", "empty revision"},
		{"a/b/c", "", "", "more than one '/'"},
		{"org/na me", "", "", "only letters"},
		{"org--x/name", "", "", "'--'"},
		{"org/name.git", "", "", ".git"},
		{"org/name@../../x", "", "", "not a valid git ref"},
		{"", "", "", "empty repo id"},
	} {
		ref, err := ParseRepoRef(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseRepoRef(%q) = %+v, %v; want error %q", tc.in, ref, err, tc.err)
			}
			continue
		}
		if err != nil || ref.ID != tc.id || ref.Revision != tc.rev {
			t.Errorf("ParseRepoRef(%q) = %+v, %v", tc.in, ref, err)
		}
	}
	if s := (RepoRef{ID: "a/b"}).String(); s != "a/b" {
		t.Error(s)
	}
	if r := (RepoRef{ID: "a/b"}).Rev(); r != "main" {
		t.Error(r)
	}
}

func TestRedirectsKeepTokenOnTheHubOnly(t *testing.T) {
	var sawAuth []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawAuth = append(sawAuth, "other:"+r.Header.Get("Authorization"))
		w.Write([]byte("ok"))
	}))
	defer other.Close()
	hubSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawAuth = append(sawAuth, "hub:"+r.URL.Path+":"+r.Header.Get("Authorization"))
		switch r.URL.Path {
		case "/a":
			http.Redirect(w, r, "/b", http.StatusTemporaryRedirect)
		case "/b":
			http.Redirect(w, r, other.URL+"/c", http.StatusFound)
		}
	}))
	defer hubSrv.Close()
	c, _ := NewClient(WithEndpoint(hubSrv.URL), WithToken("hf_secret"), WithCacheDir(t.TempDir()), WithProgress(nil))
	resp, _, err := c.do(context.Background(), request{method: http.MethodGet, url: hubSrv.URL + "/a", auth: true})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := "hub:/a:Bearer hf_secret,hub:/b:Bearer hf_secret,other:"
	if strings.Join(sawAuth, ",") != want {
		t.Fatalf("got %v, want %s", sawAuth, want)
	}
}

func TestRetryAfterIsHonouredButCapped(t *testing.T) {
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		if n == 1 {
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	c, _ := NewClient(WithEndpoint(srv.URL), WithCacheDir(t.TempDir()), WithProgress(nil), WithLogf(t.Logf),
		WithRetry(RetryPolicy{MaxRetries: 2, BaseWait: time.Millisecond, MaxWait: 5 * time.Millisecond}))
	start := time.Now()
	resp, _, err := c.do(context.Background(), request{method: http.MethodGet, url: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if d := time.Since(start); d > 3*time.Second || n != 2 {
		t.Fatalf("%d requests in %v", n, d)
	}
}

func TestRefAndLinkWrites(t *testing.T) {
	root := t.TempDir()
	rc := repoCache{root: root, dir: filepath.Join(root, "models--a--b")}
	sha := strings.Repeat("ab", 20)
	if err := rc.writeRef("refs/pr/1", sha); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(rc.dir, "refs", "refs", "pr", "1")); string(b) != sha {
		t.Fatalf("refs/refs/pr/1 = %q", b)
	}
	if got, ok := rc.commitFor("refs/pr/1"); !ok || got != sha {
		t.Fatal(got)
	}
	os.MkdirAll(filepath.Join(rc.dir, "blobs"), 0o777)
	os.WriteFile(rc.blobPath("e1"), []byte("x"), 0o666)
	os.WriteFile(rc.blobPath("e2"), []byte("y"), 0o666)
	if err := rc.link(sha, "a/b/c.json", "e1"); err != nil {
		t.Fatal(err)
	}
	if err := rc.link(sha, "a/b/c.json", "e2"); err != nil { // replaced in place
		t.Fatal(err)
	}
	target, _ := os.Readlink(rc.pointerPath(sha, "a/b/c.json"))
	if target != "../../../../blobs/e2" {
		t.Fatalf("link = %s", target)
	}
	leftovers, _ := filepath.Glob(filepath.Join(rc.snapshotDir(sha), "a", "b", "*"+tmpLinkMark+"*"))
	if len(leftovers) != 0 {
		t.Fatal(leftovers)
	}
}

func FuzzParseRepoRef(f *testing.F) {
	for _, s := range []string{"org/name@rev", "https://huggingface.co/a/b/tree/x", "gpt2", "a/b@refs/pr/1", "hf.co/x/y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := ParseRepoRef(s)
		if err != nil {
			return
		}
		if ValidateRepoID(ref.ID) != nil || validateRevision(ref.Revision) != nil {
			t.Fatalf("accepted %q as %+v", s, ref)
		}
		if strings.Contains(ref.Revision, "..") && strings.Contains(ref.Revision, "/") {
			for _, p := range strings.Split(ref.Revision, "/") {
				if p == ".." {
					t.Fatalf("revision escapes refs/: %q", ref.Revision)
				}
			}
		}
	})
}

func FuzzFnmatch(f *testing.F) {
	f.Add("*.json", "config.json")
	f.Add("[!a-]x*?", "bx/y")
	f.Add("[", "[")
	f.Fuzz(func(t *testing.T, pat, name string) {
		fnmatch(pat, name) // must not panic
		if !strings.ContainsAny(pat, "*?[") && fnmatch(pat, name) != (pat == name) {
			t.Fatalf("literal %q vs %q", pat, name)
		}
	})
}

func FuzzIndexShards(f *testing.F) {
	f.Add([]byte(`{"weight_map": {"a": "s1.safetensors"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		shards, err := indexShards(b, "sub/model.safetensors.index.json")
		if err != nil {
			return
		}
		for _, s := range shards {
			if validateRepoPath(s) != nil || !strings.HasPrefix(s, "sub/") {
				t.Fatalf("shard %q escapes", s)
			}
		}
	})
}
