package hub_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ggufy/ggufy/hub"
	"github.com/ggufy/ggufy/hub/hubtest"
)

// hubjs returns the folder of the pinned @huggingface/hub: $GGUFY_HUBJS (scripts/test.sh
// exports it), else what scripts/hubjs.sh installs. The test is skipped only when node is
// absent.
func hubjs(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	if dir := os.Getenv("GGUFY_HUBJS"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "dist", "index.mjs")); err == nil {
			return dir
		}
	}
	out, err := exec.Command("bash", filepath.Join("..", "scripts", "hubjs.sh")).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("scripts/hubjs.sh: %v\n%s", err, stderr)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if dir, ok := strings.CutPrefix(strings.TrimPrefix(line, "export "), "GGUFY_HUBJS="); ok {
			return strings.Trim(dir, `"'`)
		}
	}
	t.Fatalf("scripts/hubjs.sh printed no GGUFY_HUBJS=: %q", out)
	return ""
}

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestJSClientInterop runs the official JavaScript client against the fake Hub: it must
// list, read and download what the fake serves, fill a cache ggufy reads offline, read
// ggufy's cache without network, and upload and commit through the same endpoints.
func TestJSClientInterop(t *testing.T) {
	pkg := hubjs(t)
	s, r, files := setup(t)
	s.AddUser("alice", "hf_alice")
	s.MultipartChunk = 80_000 // the JS upload goes up in parts
	s.CreateRepo("meta/gated", hubtest.RepoOptions{Gated: true}).Commit("main", "w", map[string][]byte{"config.json": []byte("{}")})
	sha := r.Head("main")
	ctx := context.Background()

	goCache := t.TempDir()
	gc := newClient(t, s, hub.WithCacheDir(goCache))
	goSnap, err := gc.Download(ctx, "acme/tiny", "main", hub.DownloadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	jsCache := t.TempDir()
	cmd := exec.Command("node", filepath.Join("testdata", "hubjs", "interop.mjs"))
	cmd.Env = append(os.Environ(), "HFJS_PKG="+pkg, "HUB_URL="+s.URL, "TOKEN=hf_alice", "GO_CACHE="+goCache,
		"GO_SHA="+sha, "GO_FILES="+strings.Join(conversionFiles, ","), "JS_CACHE="+jsCache, "DEAD_URL=http://127.0.0.1:1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
			cmd.Process.Kill()
		}
	}()
	stdout, err := cmd.Output()
	close(done)
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(stdout, &got); err != nil {
		t.Fatalf("node output: %v\n%s\n%s", err, stdout, stderr.String())
	}
	step := func(name string, v any) {
		t.Helper()
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(got[name], &e) == nil && e.Error != "" {
			t.Errorf("%s: the JS client failed: %s", name, got[name])
			return
		}
		if err := json.Unmarshal(got[name], v); err != nil {
			t.Errorf("%s: %v: %s", name, err, got[name])
		}
	}

	var info struct {
		Name, SHA string
		Private   bool
	}
	step("modelInfo", &info)
	if info.Name != "acme/tiny" || info.SHA != sha {
		t.Errorf("modelInfo: %+v", info)
	}

	var list []struct {
		Path, Type, OID string
		Size            int64
		LFS             *string
	}
	step("listFiles", &list)
	var listed []string
	files = r.Files("main") // with the .gitattributes of the initial commit
	for _, f := range list {
		if f.Type == "file" {
			listed = append(listed, f.Path)
			want := files[f.Path]
			if f.LFS != nil && *f.LFS != hexSHA256(want) || f.LFS == nil && f.OID != gitOID(want) || f.Size != int64(len(want)) {
				t.Errorf("listFiles %s: %+v", f.Path, f)
			}
		}
	}
	if strings.Join(listed, ",") != strings.Join(keys(files), ",") {
		t.Errorf("listFiles = %v, want %v", listed, keys(files))
	}

	var pi []struct {
		Path, Type, OID, LastCommit string
		LFS                         *string
	}
	step("pathsInfo", &pi)
	if len(pi) != 3 || pi[2].Type != "directory" || pi[0].LastCommit != sha || pi[1].LFS == nil {
		t.Errorf("pathsInfo: %s", got["pathsInfo"])
	}

	var fdi struct {
		LFS, Regular struct {
			Size int64
			Etag string
		}
	}
	step("fileDownloadInfo", &fdi)
	if fdi.LFS.Size != int64(len(files[shard1])) || fdi.Regular.Size != int64(len(files["config.json"])) ||
		!strings.Contains(fdi.Regular.Etag, gitOID(files["config.json"])) {
		t.Errorf("fileDownloadInfo: %+v", fdi)
	}

	var dl map[string]string
	step("downloadFile", &dl)
	for _, p := range []string{"config.json", shard1, "onnx/model.onnx"} {
		if dl[p] != hexSHA256(files[p]) {
			t.Errorf("downloadFile %s: sha256 %s", p, dl[p])
		}
	}
	if dl["slice"] != hexSHA256(files["model-00002-of-00002.safetensors"][1000:5000]) {
		t.Errorf("ranged read: %s", dl["slice"])
	}
	var missing string
	step("missingFile", &missing)
	if missing != "null" {
		t.Errorf("missing file: %s", missing)
	}
	if !strings.Contains(string(got["gatedAnonymous"]), `"statusCode":401`) {
		t.Errorf("gated repo, anonymous: %s", got["gatedAnonymous"])
	}

	// The JS client's cache, read by ggufy offline: same snapshot folder name, same layout.
	var jsSnap string
	step("snapshotDownload", &jsSnap)
	if want := filepath.Join(jsCache, "models--acme--tiny", "snapshots", sha); jsSnap != want {
		t.Errorf("JS snapshot at %s, want %s", jsSnap, want)
	}
	off := newClient(t, s, hub.WithCacheDir(jsCache), hub.WithOffline(true))
	snap, err := off.Download(ctx, "acme/tiny", "main", hub.DownloadOptions{})
	if err != nil {
		t.Fatalf("ggufy offline on the JS cache: %v", err)
	}
	// snapshotDownload fetched every file: all laid out as huggingface_hub would.
	checkLayout(t, s, "acme/tiny", snap, r.Files("main"))
	for _, p := range conversionFiles {
		ours, _ := os.Readlink(filepath.Join(goSnap, filepath.FromSlash(p)))
		theirs, _ := os.Readlink(filepath.Join(jsSnap, filepath.FromSlash(p)))
		if ours == "" || ours != theirs {
			t.Errorf("%s: our link %q, JS link %q", p, ours, theirs)
		}
	}

	// Our cache, read by the JS client with the network unreachable.
	var read map[string]struct{ Pointer, SHA256 string }
	step("readGoCache", &read)
	for _, p := range conversionFiles {
		if read[p].Pointer != filepath.Join(goSnap, filepath.FromSlash(p)) || read[p].SHA256 != hexSHA256(files[p]) {
			t.Errorf("JS read of our %s: %+v", p, read[p])
		}
	}
	var scan []struct {
		ID struct {
			Name, Type string
		}
		FilesCount int
		Revisions  []struct {
			CommitOid string
			Refs      []string
			Files     []string
		}
	}
	step("scanGoCache", &scan)
	rootFiles := 0 // scanCacheDir does not descend into folders of a snapshot
	for _, p := range conversionFiles {
		if !strings.Contains(p, "/") {
			rootFiles++
		}
	}
	if len(scan) != 1 || scan[0].ID.Name != "acme/tiny" || len(scan[0].Revisions) != 1 ||
		scan[0].Revisions[0].CommitOid != sha || strings.Join(scan[0].Revisions[0].Refs, ",") != "main" ||
		len(scan[0].Revisions[0].Files) != rootFiles {
		t.Errorf("scanCacheDir of our cache: %s", got["scanGoCache"])
	}

	// Uploads by the JS client land as one commit each; the second reuses the LFS object.
	var up struct{ OID, SHA256 string }
	step("uploadFiles", &up)
	jr := s.Repo("alice/js-upload")
	if jr == nil {
		t.Fatal("createRepo did not create alice/js-upload")
	}
	var again struct{ OID string }
	step("uploadAgain", &again)
	commits := jr.Commits("main")
	if len(commits) != 3 || commits[1].SHA != up.OID || commits[0].SHA != again.OID || commits[1].Title != "upload from JS" {
		t.Errorf("JS commits: %+v (upload %s, again %s)", commits, up.OID, again.OID)
	}
	if n := s.Count("PUT", "/"+up.SHA256); n != 3 {
		t.Errorf("the JS upload made %d PUTs of the object, want 3 parts once", n)
	}
	jsFiles := jr.Files("main")
	if hexSHA256(jsFiles["model-Q8_0.gguf"]) != up.SHA256 || hexSHA256(jsFiles["copy-Q8_0.gguf"]) != up.SHA256 || !jr.IsLFS("main", "model-Q8_0.gguf") {
		t.Errorf("JS upload content differs")
	}
	// ggufy publishing the same bytes to the JS-made repo finds nothing to send.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "model-Q8_0.gguf"), jsFiles["model-Q8_0.gguf"], 0o644)
	ci, err := newClient(t, s, hub.WithToken("hf_alice")).Publish(ctx, hub.PublishOptions{Dir: dir, Repo: "alice/js-upload"})
	if err != nil || !ci.NoChanges {
		t.Errorf("publish over the JS upload: %+v, %v", ci, err)
	}
	var me string
	step("whoAmI", &me)
	if me != "alice" {
		t.Errorf("whoAmI = %q", me)
	}
}
