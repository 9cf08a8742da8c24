package hub_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ggufy/ggufy/hub"
	"github.com/ggufy/ggufy/hub/hubtest"
)

const shard1 = "model-00001-of-00002.safetensors"

func lfsName(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func TestFaultDroppedConnectionResumes(t *testing.T) {
	for _, stage := range []struct {
		name string
		path string
	}{{"lfs", shard1}, {"regular", "tokenizer.json"}} {
		t.Run(stage.name, func(t *testing.T) {
			s, _, files := setup(t)
			after := int64(len(files[stage.path]) / 3)
			s.AddFault(hubtest.Fault{Stage: hubtest.StageContent, Path: stage.path, Drop: true, DropAfter: after, Times: 2})
			c := newClient(t, s)
			snap, err := c.Download(context.Background(), "acme/tiny", "main", hub.DownloadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			checkLayout(t, s, "acme/tiny", snap, subset(files, conversionFiles))
			var ranges []string
			for _, r := range s.Requests() {
				if r.Range != "" && (r.Host == "cdn" || strings.Contains(r.Path, "/resolve-cache/")) {
					ranges = append(ranges, r.Range)
				}
			}
			if len(ranges) != 2 || ranges[0] != "bytes="+itoa(after)+"-" || ranges[1] != "bytes="+itoa(2*after)+"-" {
				t.Fatalf("resumed with ranges %v, want bytes=%d- then bytes=%d-", ranges, after, 2*after)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestFaultResumeAfterCrash(t *testing.T) {
	s, _, files := setup(t)
	c := newClient(t, s)
	data := files[shard1]
	blobs := filepath.Join(c.CacheDir(), "models--acme--tiny", "blobs")
	os.MkdirAll(blobs, 0o777)
	// A previous run (ours, or an older huggingface_hub) died half-way.
	half := len(data) / 2
	if err := os.WriteFile(filepath.Join(blobs, lfsName(data)+".incomplete"), data[:half], 0o666); err != nil {
		t.Fatal(err)
	}
	snap, err := c.Download(context.Background(), "acme/tiny", "main", hub.DownloadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, s, "acme/tiny", snap, subset(files, conversionFiles))
	found := false
	for _, r := range s.Requests() {
		if r.Host == "cdn" && strings.Contains(r.Path, lfsName(data)) {
			found = true
			if r.Range != "bytes="+itoa(int64(half))+"-" {
				t.Fatalf("shard fetched with Range %q, want bytes=%d-", r.Range, half)
			}
		}
	}
	if !found {
		t.Fatal("shard not fetched")
	}
}

func TestFaultCorruptPartialIsRedone(t *testing.T) {
	s, _, files := setup(t)
	c := newClient(t, s)
	data := files[shard1]
	blobs := filepath.Join(c.CacheDir(), "models--acme--tiny", "blobs")
	os.MkdirAll(blobs, 0o777)
	garbage := pseudo(1000, 77)
	os.WriteFile(filepath.Join(blobs, lfsName(data)+".incomplete"), garbage, 0o666)
	snap, err := c.Download(context.Background(), "acme/tiny", "main", hub.DownloadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, s, "acme/tiny", snap, subset(files, conversionFiles))
}

func TestFaultWrongChecksumNeverCached(t *testing.T) {
	for _, p := range []string{shard1, "config.json"} {
		t.Run(p, func(t *testing.T) {
			s, r, files := setup(t)
			s.AddFault(hubtest.Fault{Stage: hubtest.StageContent, Path: p, Corrupt: true})
			c := newClient(t, s)
			_, err := c.Download(context.Background(), "acme/tiny", "main", hub.DownloadOptions{})
			if !errors.Is(err, hub.ErrChecksum) || !strings.Contains(err.Error(), p) {
				t.Fatalf("got %v, want ErrChecksum naming %s", err, p)
			}
			repoDir := filepath.Join(c.CacheDir(), "models--acme--tiny")
			if _, err := os.Lstat(filepath.Join(repoDir, "snapshots", r.Head("main"), p)); !os.IsNotExist(err) {
				t.Fatalf("a pointer to the corrupt file exists: %v", err)
			}
			etag := gitOID(files[p])
			if r.IsLFS("main", p) {
				etag = lfsName(files[p])
			}
			if _, err := os.Stat(filepath.Join(repoDir, "blobs", etag+".incomplete")); !os.IsNotExist(err) {
				t.Fatalf("corrupt partial of %s kept: %v", p, err)
			}
			blobs, _ := os.ReadDir(filepath.Join(repoDir, "blobs"))
			for _, b := range blobs {
				data, _ := os.ReadFile(filepath.Join(repoDir, "blobs", b.Name()))
				if strings.Contains(b.Name(), ".") {
					continue
				}
				var ok bool
				if len(b.Name()) == 64 {
					ok = lfsName(data) == b.Name()
				} else {
					ok = gitOID(data) == b.Name()
				}
				if !ok {
					t.Fatalf("blob %s does not hash to its name", b.Name())
				}
			}
			// Once the fault is gone, a new run completes.
			s.ClearFaults()
			if _, err := c.Download(context.Background(), "acme/tiny", "main", hub.DownloadOptions{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestFaultServerErrorsThenSuccess(t *testing.T) {
	s, _, files := setup(t)
	s.AddFault(hubtest.Fault{Stage: hubtest.StageAPI, Status: 500, Times: 2})
	s.AddFault(hubtest.Fault{Stage: hubtest.StageResolve, Path: shard1, Status: 502, Times: 2})
	s.AddFault(hubtest.Fault{Stage: hubtest.StageContent, Path: "config.json", Status: 503, Times: 1})
	s.AddFault(hubtest.Fault{Stage: hubtest.StageContent, Path: "model-00002-of-00002.safetensors", Status: 429, Times: 1})
	c := newClient(t, s)
	snap, err := c.Download(context.Background(), "acme/tiny", "main", hub.DownloadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, s, "acme/tiny", snap, subset(files, conversionFiles))
	if n := s.Count(http.MethodGet, "/revision/main"); n != 3 {
		t.Fatalf("revision API called %d times, want 3 (two 500s, then success)", n)
	}
}

func TestFaultServerErrorsForever(t *testing.T) {
	s, _, _ := setup(t)
	s.AddFault(hubtest.Fault{Stage: hubtest.StageResolve, Path: shard1, Status: 500})
	c := newClient(t, s)
	_, err := c.Download(context.Background(), "acme/tiny", "main", hub.DownloadOptions{})
	if !errors.Is(err, hub.ErrServer) || !strings.Contains(err.Error(), "status.huggingface.co") {
		t.Fatalf("got %v", err)
	}
	if n := s.Count(http.MethodGet, "/resolve/"+""); n == 0 {
		t.Fatal("no resolve request")
	}
	if n := s.Count(http.MethodGet, shard1); n != fastRetry.MaxRetries+1 {
		t.Fatalf("%d attempts, want %d", n, fastRetry.MaxRetries+1)
	}
}

func TestFaultDroppedForeverGivesUp(t *testing.T) {
	s, r, _ := setup(t)
	s.AddFault(hubtest.Fault{Stage: hubtest.StageContent, Path: shard1, Drop: true, DropAfter: 0})
	c := newClient(t, s)
	_, err := c.Download(context.Background(), "acme/tiny", "main", hub.DownloadOptions{})
	if !errors.Is(err, hub.ErrServer) || !strings.Contains(err.Error(), "run again to resume") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Lstat(filepath.Join(c.CacheDir(), "models--acme--tiny", "snapshots", r.Head("main"), shard1)); !os.IsNotExist(err) {
		t.Fatal("pointer to an incomplete file")
	}
}

func TestFaultServerIgnoresRange(t *testing.T) {
	s, _, files := setup(t)
	s.AddFault(hubtest.Fault{Stage: hubtest.StageContent, Path: shard1, Drop: true, DropAfter: 5000, Times: 1})
	s.AddFault(hubtest.Fault{Stage: hubtest.StageContent, Path: shard1, IgnoreRange: true, Times: 1})
	c := newClient(t, s)
	snap, err := c.Download(context.Background(), "acme/tiny", "main", hub.DownloadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, s, "acme/tiny", snap, subset(files, conversionFiles))
}

func TestFaultStalledTransferResumes(t *testing.T) {
	s, _, files := setup(t)
	s.AddFault(hubtest.Fault{Stage: hubtest.StageContent, Path: shard1, Stall: 400 * time.Millisecond, DropAfter: 1000, Times: 1})
	c := newClient(t, s, hub.WithStallTimeout(40*time.Millisecond))
	snap, err := c.Download(context.Background(), "acme/tiny", "main", hub.DownloadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, s, "acme/tiny", snap, subset(files, conversionFiles))
}

func TestDownloadCancelKeepsPartial(t *testing.T) {
	s, _, files := setup(t)
	s.AddFault(hubtest.Fault{Stage: hubtest.StageContent, Path: shard1, Stall: 300 * time.Millisecond, DropAfter: 4096, Times: 1})
	c := newClient(t, s, hub.WithConcurrency(1))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Download(ctx, "acme/tiny", "main", hub.DownloadOptions{Include: []string{shard1}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	inc := filepath.Join(c.CacheDir(), "models--acme--tiny", "blobs", lfsName(files[shard1])+".incomplete")
	st, err := os.Stat(inc)
	if err != nil || st.Size() != 4096 {
		t.Fatalf("partial after Ctrl-C: %v (size %d), want 4096 bytes kept", err, st.Size())
	}
	snap, err := c.Download(context.Background(), "acme/tiny", "main", hub.DownloadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, s, "acme/tiny", snap, subset(files, conversionFiles))
}
