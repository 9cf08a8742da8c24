package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ggufy/ggufy/hub"
)

// pyCache lays out a cache exactly as huggingface_hub's hf_hub_download /
// snapshot_download leave it: blobs named by etag, relative symlinks from
// snapshots/{sha}, refs/main without a newline, filelock's empty .lock files, the
// CACHEDIR.TAG, a .no_exist marker, and (huggingface_hub >= 1.x) trees/{sha}.json.
func pyCache(t *testing.T, root, sha string, files map[string][]byte, lfs func(string) bool, withTree bool, all map[string][]byte) {
	t.Helper()
	repo := filepath.Join(root, "models--acme--tiny")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(root, "CACHEDIR.TAG"), []byte("Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by huggingface_hub.\n"), 0o644))
	for p, data := range files {
		etag := gitOID(data)
		if lfs(p) {
			etag = lfsName(data)
		}
		blob := filepath.Join(repo, "blobs", etag)
		ptr := filepath.Join(repo, "snapshots", sha, filepath.FromSlash(p))
		must(os.MkdirAll(filepath.Dir(blob), 0o755))
		must(os.MkdirAll(filepath.Dir(ptr), 0o755))
		must(os.WriteFile(blob, data, 0o644))
		rel, err := filepath.Rel(filepath.Dir(ptr), blob) // os.path.relpath(abs_src, abs_dst_folder)
		must(err)
		must(os.Symlink(rel, ptr))
		lock := filepath.Join(root, ".locks", "models--acme--tiny", etag+".lock")
		must(os.MkdirAll(filepath.Dir(lock), 0o755))
		must(os.WriteFile(lock, nil, 0o644))
	}
	must(os.MkdirAll(filepath.Join(repo, "refs"), 0o755))
	must(os.WriteFile(filepath.Join(repo, "refs", "main"), []byte(sha), 0o644))
	noExist := filepath.Join(repo, ".no_exist", sha, "chat_template.jinja")
	must(os.MkdirAll(filepath.Dir(noExist), 0o755))
	must(os.WriteFile(noExist, nil, 0o644))
	if withTree {
		type entry struct {
			Size      int    `json:"size"`
			BlobID    string `json:"blob_id"`
			LFSSHA256 string `json:"lfs_sha256,omitempty"`
			LFSSize   int    `json:"lfs_size,omitempty"`
		}
		tree := map[string]any{"format_version": 1, "files": map[string]entry{}}
		for p, data := range all {
			e := entry{Size: len(data), BlobID: gitOID(data)}
			if lfs(p) {
				e.LFSSHA256, e.LFSSize = lfsName(data), len(data)
			}
			tree["files"].(map[string]entry)[p] = e
		}
		b, _ := json.MarshalIndent(tree, "", " ")
		must(os.MkdirAll(filepath.Join(repo, "trees"), 0o755))
		must(os.WriteFile(filepath.Join(repo, "trees", sha+".json"), b, 0o644))
	}
}

func TestCacheWrittenByHuggingfaceHubIsUsedAsIs(t *testing.T) {
	for _, withTree := range []bool{false, true} {
		t.Run(map[bool]string{false: "0.x", true: "1.x with trees"}[withTree], func(t *testing.T) {
			s, r, files := setup(t)
			sha := r.Head("main")
			cache := t.TempDir()
			lfs := func(p string) bool { return r.IsLFS("main", p) }
			pyCache(t, cache, sha, subset(files, conversionFiles), lfs, withTree, r.Files("main"))
			snapDir := filepath.Join(cache, "models--acme--tiny", "snapshots", sha)
			before := map[string]time.Time{}
			blobs, _ := filepath.Glob(filepath.Join(cache, "models--acme--tiny", "blobs", "*"))
			for _, b := range blobs {
				st, _ := os.Stat(b)
				before[b] = st.ModTime()
			}
			ctx := context.Background()

			// Online: only the revision is asked for; nothing is fetched or rewritten.
			c := newClient(t, s, hub.WithCacheDir(cache))
			snap, err := c.Download(ctx, "acme/tiny", "main", hub.DownloadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if snap != snapDir {
				t.Fatalf("snapshot %s, want %s", snap, snapDir)
			}
			if reqs := s.Requests(); len(reqs) != 1 {
				t.Fatalf("requests %+v, want only the revision call", reqs)
			}
			checkLayout(t, s, "acme/tiny", snap, subset(files, conversionFiles))
			after, _ := filepath.Glob(filepath.Join(cache, "models--acme--tiny", "blobs", "*"))
			if len(after) != len(blobs) {
				t.Fatalf("blobs changed: %d -> %d", len(blobs), len(after))
			}
			for _, b := range blobs {
				if st, _ := os.Stat(b); !st.ModTime().Equal(before[b]) {
					t.Errorf("%s rewritten", b)
				}
			}

			// Offline: the same snapshot, .no_exist honoured, no requests.
			s.ResetLog()
			off := newClient(t, s, hub.WithCacheDir(cache), hub.WithOffline(true))
			if snap2, err := off.Download(ctx, "acme/tiny", "main", hub.DownloadOptions{}); err != nil || snap2 != snapDir {
				t.Fatalf("offline: %s, %v", snap2, err)
			}
			if _, err := off.DownloadFile(ctx, "acme/tiny", "main", "chat_template.jinja"); !errors.Is(err, hub.ErrEntryNotFound) {
				t.Fatalf(".no_exist not honoured: %v", err)
			}
			_, err = off.Download(ctx, "acme/tiny", "main", hub.DownloadOptions{Include: []string{"onnx/*"}})
			if !errors.Is(err, hub.ErrIncomplete) {
				t.Fatalf("offline include of uncached files: %v", err)
			}
			if withTree && !strings.Contains(err.Error(), "onnx/model.onnx") {
				t.Fatalf("the trees/ listing should name the missing file: %v", err)
			}
			if n := len(s.Requests()); n != 0 {
				t.Fatalf("offline made %d requests", n)
			}

			// Completing the snapshot adds to it without touching what is there.
			if _, err := c.Download(ctx, "acme/tiny", "main", hub.DownloadOptions{All: true}); err != nil {
				t.Fatal(err)
			}
			checkLayout(t, s, "acme/tiny", snap, r.Files("main"))
		})
	}
}

func TestCacheWithCopiesInsteadOfLinks(t *testing.T) {
	// HF_HUB_DISABLE_SYMLINKS (or Windows) leaves plain files in the snapshot.
	s, r, files := setup(t)
	sha := r.Head("main")
	cache := t.TempDir()
	snapDir := filepath.Join(cache, "models--acme--tiny", "snapshots", sha)
	for _, p := range conversionFiles {
		dst := filepath.Join(snapDir, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(dst), 0o755)
		os.WriteFile(dst, files[p], 0o644)
	}
	os.MkdirAll(filepath.Join(cache, "models--acme--tiny", "refs"), 0o755)
	os.WriteFile(filepath.Join(cache, "models--acme--tiny", "refs", "main"), []byte(sha), 0o644)
	c := newClient(t, s, hub.WithCacheDir(cache), hub.WithOffline(true))
	snap, err := c.Download(context.Background(), "acme/tiny", "main", hub.DownloadOptions{})
	if err != nil || snap != snapDir {
		t.Fatalf("%s, %v", snap, err)
	}
	got := snapshotFiles(t, snap)
	if len(got) != len(conversionFiles) {
		t.Fatalf("files %v", keys(got))
	}
}
