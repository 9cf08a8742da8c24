package hub_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ggufy/ggufy/hub"
	"github.com/ggufy/ggufy/hub/hubtest"
)

var update = flag.Bool("update", false, "rewrite golden files")

func ggufDir(t *testing.T) (string, map[string][]byte) {
	t.Helper()
	dir := t.TempDir()
	files := map[string][]byte{
		"Tiny-Q8_0.gguf":   append([]byte("GGUF"), pseudo(70_000, 11)...),
		"Tiny-Q4_K_M.gguf": append([]byte("GGUF"), pseudo(40_000, 12)...),
		"Tiny-F16.gguf":    append([]byte("GGUF"), pseudo(130_000, 13)...),
		"notes.txt":        []byte("not uploaded"),
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	delete(files, "notes.txt")
	return dir, files
}

func testCard() *hub.Card {
	return &hub.Card{
		BaseModel: "acme/tiny", License: "apache-2.0", QuantizedBy: "alice", PipelineTag: "text-generation",
		Tool: "ggufy", EvalNote: "wikitext-2-raw test, 512-token windows.",
		Variants: []hub.Variant{
			{File: "Tiny-F16.gguf", Quant: "F16", Size: 130_004, BitsPerWeight: 16, Quality: &hub.Quality{Perplexity: 10.0, BasePerplexity: 10.0, MeanKLD: 0.00001}},
			{File: "Tiny-Q8_0.gguf", Quant: "Q8_0", Size: 70_004, BitsPerWeight: 8.5, Quality: &hub.Quality{Perplexity: 10.01, BasePerplexity: 10.0, MeanKLD: 0.0004}},
			{File: "Tiny-Q4_K_M.gguf", Quant: "Q4_K_M", Size: 40_004, BitsPerWeight: 4.89},
		},
	}
}

func TestPublishOneCommitThenNothing(t *testing.T) {
	s := hubtest.New(t)
	s.AddUser("alice", "hf_alice")
	s.MultipartChunk = 50_000 // the two larger files go up in parts
	dir, files := ggufDir(t)
	c := newClient(t, s, hub.WithToken("hf_alice"))
	ctx := context.Background()

	info, err := c.Publish(ctx, hub.PublishOptions{Dir: dir, Repo: "alice/Tiny-GGUF", Private: true, Card: testCard()})
	if err != nil {
		t.Fatal(err)
	}
	r := s.Repo("alice/Tiny-GGUF")
	if r == nil || !info.Created {
		t.Fatalf("repo not created: %+v", info)
	}
	commits := r.Commits("main")
	if len(commits) != 2 || commits[0].SHA != info.OID || commits[1].Title != "initial commit" {
		t.Fatalf("commits %+v, want the initial one and ours (%s)", commits, info.OID)
	}
	got := r.Files("main")
	for name, data := range files {
		if !bytes.Equal(got[name], data) {
			t.Errorf("%s differs on the Hub", name)
		}
		if !r.IsLFS("main", name) {
			t.Errorf("%s is not LFS", name)
		}
	}
	if _, ok := got["notes.txt"]; ok {
		t.Error("notes.txt uploaded")
	}
	card := string(got["README.md"])
	for _, want := range []string{"base_model: acme/tiny", "- gguf", "license: apache-2.0", "quantized_by: alice",
		"llama-cli -hf alice/Tiny-GGUF:Q4_K_M", "ollama run hf.co/alice/Tiny-GGUF:Q4_K_M", "| `Tiny-Q8_0.gguf` | Q8_0 |"} {
		if !strings.Contains(card, want) {
			t.Errorf("model card lacks %q:\n%s", want, card)
		}
	}
	if info.LFSBytes != int64(len(files["Tiny-Q8_0.gguf"])+len(files["Tiny-Q4_K_M.gguf"])+len(files["Tiny-F16.gguf"])) {
		t.Errorf("LFSBytes = %d", info.LFSBytes)
	}
	if n := s.Count(http.MethodPost, "/complete/"); n != 2 {
		t.Errorf("%d multipart completions, want 2", n)
	}
	for _, rq := range s.Requests() {
		if rq.Host == "cdn" && rq.Auth {
			t.Errorf("token sent to storage: %+v", rq)
		}
	}

	// Re-running uploads nothing and makes no commit.
	s.ResetLog()
	again, err := c.Publish(ctx, hub.PublishOptions{Dir: dir, Repo: "alice/Tiny-GGUF", Card: testCard()})
	if err != nil {
		t.Fatal(err)
	}
	if !again.NoChanges || again.OID != info.OID || len(again.Unchanged) != 4 || again.LFSBytes != 0 {
		t.Fatalf("second run: %+v", again)
	}
	if n := s.Count(http.MethodPut, ""); n != 0 {
		t.Fatalf("second run made %d uploads", n)
	}
	if len(r.Commits("main")) != 2 {
		t.Fatal("second run committed")
	}

	// Changing one file uploads only that one.
	os.WriteFile(filepath.Join(dir, "Tiny-Q4_K_M.gguf"), append([]byte("GGUF"), pseudo(40_000, 99)...), 0o644)
	s.ResetLog()
	third, err := c.Publish(ctx, hub.PublishOptions{Dir: dir, Repo: "alice/Tiny-GGUF", Card: testCard()})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(third.Uploaded, ",") != "Tiny-Q4_K_M.gguf" || third.LFSBytes != 40_004 {
		t.Fatalf("third run: %+v", third)
	}
}

func TestPublishRetriesAndResumesAfterFailure(t *testing.T) {
	s := hubtest.New(t)
	s.AddUser("alice", "hf_alice", "acme")
	dir, files := ggufDir(t)
	c := newClient(t, s, hub.WithToken("hf_alice"), hub.WithConcurrency(1))
	ctx := context.Background()

	// Storage drops one connection and fails once: retried. Then the commit fails: the run
	// ends with a clear error.
	s.AddFault(hubtest.Fault{Stage: hubtest.StageUpload, Drop: true, DropAfter: 10, Times: 1})
	s.AddFault(hubtest.Fault{Stage: hubtest.StageUpload, Status: 503, Times: 1})
	s.AddFault(hubtest.Fault{Stage: hubtest.StageCommit, Status: 500, Times: 1})
	_, err := c.Publish(ctx, hub.PublishOptions{Dir: dir, Repo: "acme/Tiny-GGUF", Revision: "v1"})
	if !errors.Is(err, hub.ErrServer) || !strings.Contains(err.Error(), "re-run publish") {
		t.Fatalf("got %v", err)
	}
	r := s.Repo("acme/Tiny-GGUF")
	if len(r.Commits("v1")) != 1 {
		t.Fatal("a failed commit left a commit")
	}
	// The re-run sends no bytes again, only the commit.
	s.ResetLog()
	info, err := c.Publish(ctx, hub.PublishOptions{Dir: dir, Repo: "acme/Tiny-GGUF", Revision: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	if info.LFSBytes != 0 || len(info.Uploaded) != 3 || info.Created {
		t.Fatalf("re-run: %+v", info)
	}
	if n := s.Count(http.MethodPut, ""); n != 0 {
		t.Fatalf("re-run uploaded %d objects again", n)
	}
	got := r.Files("v1")
	for name, data := range files {
		if !bytes.Equal(got[name], data) {
			t.Errorf("%s differs", name)
		}
	}
	if r.Files("main")["Tiny-Q8_0.gguf"] != nil {
		t.Error("files landed on main, not on the v1 branch")
	}
}

func TestPublishErrors(t *testing.T) {
	s := hubtest.New(t)
	s.AddUser("alice", "hf_alice")
	s.AddUser("bob", "hf_bob")
	s.CreateRepo("bob/Model-GGUF", hubtest.RepoOptions{})
	dir, _ := ggufDir(t)
	ctx := context.Background()

	_, err := newClient(t, s).Publish(ctx, hub.PublishOptions{Dir: dir, Repo: "alice/x"})
	if !errors.Is(err, hub.ErrUnauthorized) || !strings.Contains(err.Error(), "HF_TOKEN") {
		t.Fatalf("no token: %v", err)
	}
	alice := newClient(t, s, hub.WithToken("hf_alice"))
	_, err = alice.Publish(ctx, hub.PublishOptions{Dir: dir, Repo: "bob/Model-GGUF"})
	if !errors.Is(err, hub.ErrForbidden) || !strings.Contains(err.Error(), "write access") {
		t.Fatalf("someone else's repo: %v", err)
	}
	_, err = alice.Publish(ctx, hub.PublishOptions{Dir: dir, Repo: "nocreds/x"})
	if !errors.Is(err, hub.ErrForbidden) {
		t.Fatalf("someone else's namespace: %v", err)
	}
	_, err = alice.Publish(ctx, hub.PublishOptions{Dir: t.TempDir(), Repo: "alice/x"})
	if err == nil || !strings.Contains(err.Error(), "nothing in") {
		t.Fatalf("empty dir: %v", err)
	}
	_, err = alice.Publish(ctx, hub.PublishOptions{Dir: dir, Repo: "no-namespace"})
	if err == nil || !strings.Contains(err.Error(), "org/name") {
		t.Fatalf("bad repo: %v", err)
	}
}

func TestModelCardGolden(t *testing.T) {
	c := testCard()
	c.Repo = "alice/Tiny-GGUF"
	got := hub.ModelCard(*c)
	golden := filepath.Join("testdata", "card.golden.md")
	if *update {
		os.MkdirAll("testdata", 0o755)
		os.WriteFile(golden, []byte(got), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("card differs from %s (run with -update):\n%s", golden, got)
	}
}

func TestModelCardFromSource(t *testing.T) {
	s := hubtest.New(t)
	s.CreateRepo("meta/Llama-9B", hubtest.RepoOptions{PipelineTag: "text-generation",
		CardData: map[string]any{"license": "other", "license_name": "llama9", "license_link": "LICENSE", "base_model": []string{"meta/Llama-9B-base"}}})
	ri, err := newClient(t, s).Resolve(context.Background(), "meta/Llama-9B", "main")
	if err != nil {
		t.Fatal(err)
	}
	card := hub.CardFromSource(ri)
	card.Repo = "me/Llama-9B-GGUF"
	card.Tags = []string{"llama", "gguf", "yes"}
	card.Variants = []hub.Variant{{File: "a|b.gguf", Quant: "Q8_0", Size: 9_500_000_000}}
	out := hub.ModelCard(card)
	for _, want := range []string{"base_model: meta/Llama-9B\n", "license: other\nlicense_name: llama9\nlicense_link: LICENSE\n",
		"pipeline_tag: text-generation", "- llama\n", "- \"yes\"\n", "`a\\|b.gguf`", "9.50 GB", "llama-cli -hf me/Llama-9B-GGUF:Q8_0"} {
		if !strings.Contains(out, want) {
			t.Errorf("card lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "- gguf") != 1 {
		t.Errorf("gguf tag repeated:\n%s", out)
	}
	if strings.Contains(out, "Perplexity") {
		t.Errorf("quality columns without measurements:\n%s", out)
	}
}
