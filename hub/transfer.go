package hub

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
)

// diskFree is freeSpace, replaceable in tests.
var diskFree = freeSpace

// errStalled marks a transfer that received nothing for the stall timeout.
var errStalled = errors.New("hub: transfer stalled")

// target is one file to bring into the cache.
type target struct {
	File
}

// transfer downloads files of one repo commit into the cache.
type transfer struct {
	c    *Client
	repo string
	rc   repoCache
	sha  string
}

// fetchAll fetches files concurrently (largest first), after checking the disk has room,
// with a progress bar per file and one overall. The first error cancels the rest.
func (tx *transfer) fetchAll(ctx context.Context, files []target, title string) error {
	var todo []target
	var need int64
	for _, f := range files {
		if tx.rc.pointerOK(tx.sha, f.Path) {
			continue
		}
		if etag := f.ETag(); etag != "" {
			if st, err := os.Stat(tx.rc.blobPath(etag)); err == nil && st.Mode().IsRegular() {
				if err := tx.rc.link(tx.sha, f.Path, etag); err != nil {
					return fmt.Errorf("hub: cache %s: %w", tx.c.cacheDir, err)
				}
				continue
			}
			need += f.Size
			if st, err := os.Stat(tx.rc.blobPath(etag) + ".incomplete"); err == nil && st.Size() <= f.Size {
				need -= st.Size()
			}
		} else {
			need += f.Size
		}
		todo = append(todo, f)
	}
	if len(todo) == 0 {
		return nil
	}
	if err := os.MkdirAll(filepath.Join(tx.rc.dir, "blobs"), 0o777); err != nil {
		return fmt.Errorf("hub: cache %s: %w", tx.c.cacheDir, err)
	}
	if free, ok := diskFree(filepath.Join(tx.rc.dir, "blobs")); ok && need > 0 && free < need+need/100 {
		return fmt.Errorf("%w: %s needs %s in %s, which has %s free; free some space or point HF_HUB_CACHE elsewhere",
			ErrNoSpace, title, humanBytes(need), tx.c.cacheDir, humanBytes(free))
	}
	sort.SliceStable(todo, func(i, j int) bool { return todo[i].Size > todo[j].Size })
	var total int64
	for _, f := range todo {
		total += f.Size
	}
	ps := newProgressSet(tx.c.progress, title, total)
	defer ps.close()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(tx.c.concurrency)
	for _, f := range todo {
		g.Go(func() error { return tx.fetch(gctx, f, ps) })
	}
	return g.Wait()
}

// fetch brings one file into the cache: under the blob's lock, it resumes
// blobs/{etag}.incomplete with Range requests, checks size and hash (LFS sha256, or the git
// blob sha1 of a regular file), renames it into blobs/{etag} and links the snapshot to it.
func (tx *transfer) fetch(ctx context.Context, f target, ps *progressSet) error {
	if tx.rc.pointerOK(tx.sha, f.Path) {
		return nil
	}
	if f.ETag() == "" {
		// A server that lists no blob ids (some mirrors): ask, as huggingface_hub does.
		m, err := tx.c.fileMeta(ctx, tx.repo, tx.sha, f.Path)
		if err != nil {
			return err
		}
		f.Size = m.size
		if sha256Pattern.MatchString(m.etag) {
			f.LFS = &LFS{SHA256: m.etag, Size: m.size}
		} else {
			f.BlobID = m.etag
		}
	}
	etag := f.ETag()
	if !etagPattern.MatchString(etag) {
		return fmt.Errorf("hub: %s@%s: %s: unusable etag %q", tx.repo, tx.sha, f.Path, etag)
	}
	blob := tx.rc.blobPath(etag)
	unlock, err := lockFile(ctx, filepath.Join(tx.rc.lock, etag+".lock"))
	if err != nil {
		return fmt.Errorf("hub: cache %s: lock for %s: %w", tx.c.cacheDir, f.Path, err)
	}
	defer unlock()
	if st, err := os.Stat(blob); err != nil || !st.Mode().IsRegular() {
		if err := tx.download(ctx, f, blob, ps); err != nil {
			return err
		}
	}
	if err := tx.rc.link(tx.sha, f.Path, etag); err != nil {
		return fmt.Errorf("hub: cache %s: %w", tx.c.cacheDir, err)
	}
	return nil
}

// verifier hashes a file as the Hub names it: sha256 for LFS, git's blob sha1 otherwise.
type verifier struct {
	h      hash.Hash
	want   string
	algo   string
	prefix []byte // git blob header, hashed first
}

func newVerifier(f target) *verifier {
	if f.LFS != nil {
		return &verifier{h: sha256.New(), want: f.LFS.SHA256, algo: "sha256"}
	}
	if len(f.BlobID) == 40 {
		v := &verifier{h: sha1.New(), want: f.BlobID, algo: "git sha1"}
		v.prefix = []byte("blob " + strconv.FormatInt(f.Size, 10) + "\x00")
		v.h.Write(v.prefix)
		return v
	}
	return &verifier{} // unknown scheme (a mirror's opaque etag): size check only
}

func (v *verifier) Write(p []byte) (int, error) {
	if v.h != nil {
		v.h.Write(p)
	}
	return len(p), nil
}

func (v *verifier) reset() {
	if v.h != nil {
		v.h.Reset()
		v.h.Write(v.prefix)
	}
}

func (v *verifier) check() (got string, ok bool) {
	if v.h == nil {
		return "", true
	}
	got = hex.EncodeToString(v.h.Sum(nil))
	return got, strings.EqualFold(got, v.want)
}

// download writes f into blob via blob.incomplete, resuming what is there.
func (tx *transfer) download(ctx context.Context, f target, blob string, ps *progressSet) (err error) {
	inc := blob + ".incomplete"
	if err := os.MkdirAll(filepath.Dir(blob), 0o777); err != nil {
		return fmt.Errorf("hub: cache %s: %w", tx.c.cacheDir, err)
	}
	out, err := os.OpenFile(inc, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return fmt.Errorf("hub: cache %s: %w", tx.c.cacheDir, err)
	}
	defer func() {
		if out != nil {
			out.Close()
		}
	}()
	off, err := out.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	v := newVerifier(f)
	if off > f.Size {
		off = 0
	}
	if off > 0 {
		// Hash what an earlier run left, then continue after it.
		if _, err := io.Copy(v, io.NewSectionReader(out, 0, off)); err != nil {
			return fmt.Errorf("hub: cache %s: reading %s: %w", tx.c.cacheDir, inc, err)
		}
	}
	if err := out.Truncate(off); err != nil {
		return err
	}
	bar := ps.file(f.Path, f.Size, off)
	ps.add(nil, off)
	failed := true
	defer func() { ps.finish(bar, failed) }()

	resumed := off > 0
	for {
		if err := tx.receive(ctx, f, out, &off, v, ps, bar); err != nil {
			if off == 0 {
				// Nothing to resume: leave no empty partial behind.
				out.Close()
				out = nil
				os.Remove(inc)
			}
			return err
		}
		if off != f.Size {
			return fmt.Errorf("hub: %s@%s: %s: got %d bytes, the Hub announced %d", tx.repo, tx.sha, f.Path, off, f.Size)
		}
		got, ok := v.check()
		if ok {
			break
		}
		// Never keep bytes that do not hash right: drop them. If part came from an earlier
		// run, that part may be the culprit: start over once from zero.
		if err := out.Truncate(0); err != nil {
			return err
		}
		ps.undo(bar, off)
		off = 0
		v.reset()
		if resumed {
			resumed = false
			tx.c.logf("%s: %s mismatch after resuming; downloading again from the start", f.Path, v.algo)
			continue
		}
		out.Close()
		out = nil
		os.Remove(inc)
		return fmt.Errorf("%w: %s@%s: %s: %s of the download is %s, the Hub announced %s; the download was discarded, retry (if it persists, a proxy or mirror is altering files)",
			ErrChecksum, tx.repo, tx.sha, f.Path, v.algo, got, v.want)
	}
	if err := out.Close(); err != nil {
		out = nil
		return fmt.Errorf("hub: cache %s: %w", tx.c.cacheDir, err)
	}
	out = nil
	if err := os.Rename(inc, blob); err != nil {
		return fmt.Errorf("hub: cache %s: %w", tx.c.cacheDir, err)
	}
	failed = false
	return nil
}

// receive GETs the rest of the file from *off, writing to out and v, until the file is
// complete or the retries for one stretch without progress are spent.
func (tx *transfer) receive(ctx context.Context, f target, out *os.File, off *int64, v *verifier, ps *progressSet, bar *barLine) error {
	u := fmt.Sprintf("%s/%s/resolve/%s/%s", tx.c.endpoint, escapeRepoID(tx.repo), tx.sha, escapeFilePath(f.Path))
	tries := 0
	wait := tx.c.retry.BaseWait
	for *off < f.Size {
		start := *off
		err := tx.get(ctx, u, f, out, off, v, ps, bar)
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var he *Error
		if errors.As(err, &he) || errors.Is(err, ErrServer) || !retryableErr(err) {
			return err // do() already retried what can be retried before the body
		}
		if *off > start {
			tries, wait = 0, tx.c.retry.BaseWait // progress was made: the budget starts over
		}
		tries++
		if tries > tx.c.retry.MaxRetries {
			return fmt.Errorf("%w: %s@%s: %s: %w (gave up after %d tries; run again to resume from byte %d)", ErrServer, tx.repo, tx.sha, f.Path, err, tries, *off)
		}
		tx.c.logf("%s: %v; resuming at byte %d", f.Path, err, *off)
		if err := sleepCtx(ctx, wait); err != nil {
			return err
		}
		wait = min(wait*2, tx.c.retry.MaxWait)
	}
	return nil
}

// get does one GET from *off and copies the body.
func (tx *transfer) get(ctx context.Context, u string, f target, out *os.File, off *int64, v *verifier, ps *progressSet, bar *barLine) error {
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	h := http.Header{"Accept-Encoding": {"identity"}}
	if *off > 0 {
		h.Set("Range", fmt.Sprintf("bytes=%d-", *off))
	}
	resp, _, err := tx.c.do(rctx, request{
		method: http.MethodGet, url: u, header: h, auth: true,
		what: what{endpoint: tx.c.endpoint, repo: tx.repo, revision: tx.sha, path: f.Path},
	})
	if err != nil {
		var he *Error
		if errors.As(err, &he) && he.StatusCode == http.StatusRequestedRangeNotSatisfiable && *off > 0 {
			return tx.restart(out, off, v, ps, bar)
		}
		return err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusPartialContent:
		if s, ok := contentRangeStart(resp.Header.Get("Content-Range")); !ok || s != *off {
			if err := tx.restart(out, off, v, ps, bar); err != nil {
				return err
			}
			return fmt.Errorf("%w: unexpected Content-Range %q", io.ErrUnexpectedEOF, resp.Header.Get("Content-Range"))
		}
	case http.StatusOK:
		if *off > 0 {
			// The server ignored the Range: start over with this full body.
			if err := tx.restart(out, off, v, ps, bar); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("hub: %s: unexpected status %s", redactURL(u), resp.Status)
	}
	// Watchdog: a body that stops delivering is cut and resumed.
	timer := time.AfterFunc(tx.c.stall, func() { cancel(errStalled) })
	defer timer.Stop()
	body := io.LimitReader(resp.Body, f.Size-*off+1) // one byte more reveals an oversized body
	buf := make([]byte, 256<<10)
	w := io.NewOffsetWriter(out, *off)
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			timer.Reset(tx.c.stall)
			if *off+int64(n) > f.Size {
				tx.restart(out, off, v, ps, bar)
				return fmt.Errorf("%w: %s@%s: %s: the server sent more than the %d bytes announced", ErrChecksum, tx.repo, tx.sha, f.Path, f.Size)
			}
			if _, err := w.Write(buf[:n]); err != nil {
				return fmt.Errorf("hub: cache %s: %w", tx.c.cacheDir, err)
			}
			v.Write(buf[:n])
			*off += int64(n)
			ps.add(bar, int64(n))
		}
		if rerr == io.EOF {
			if *off < f.Size {
				return io.ErrUnexpectedEOF
			}
			return nil
		}
		if rerr != nil {
			if context.Cause(rctx) == errStalled {
				return errStalled
			}
			return rerr
		}
	}
}

// restart throws away the partial file.
func (tx *transfer) restart(out *os.File, off *int64, v *verifier, ps *progressSet, bar *barLine) error {
	if err := out.Truncate(0); err != nil {
		return err
	}
	ps.undo(bar, *off)
	*off = 0
	v.reset()
	return nil
}

// contentRangeStart parses "bytes START-END/TOTAL".
func contentRangeStart(h string) (int64, bool) {
	h = strings.TrimPrefix(strings.TrimSpace(h), "bytes ")
	s, _, ok := strings.Cut(h, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
