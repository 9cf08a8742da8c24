package hub

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
)

// PublishOptions says what to upload where.
type PublishOptions struct {
	Dir      string   // folder holding the files
	Repo     string   // target model repo, "org/name"; created if missing
	Private  bool     // visibility when the repo is created (an existing repo is left as is)
	Revision string   // branch to commit to ("" for main); created from main if missing
	Include  []string // files of Dir to upload (fnmatch patterns on slash paths); default *.gguf
	Exclude  []string
	Card     *Card // written as README.md; nil leaves the repo's README alone

	CommitMessage     string // default "Upload GGUF files with ggufy"
	CommitDescription string
}

// CommitInfo is what Publish did.
type CommitInfo struct {
	Repo      string
	Revision  string
	OID       string   // the new commit, or the branch head when nothing changed
	URL       string   // the commit's page ("" when nothing changed)
	Created   bool     // the repo was created
	Uploaded  []string // files written by the commit
	Unchanged []string // files identical on the Hub, left out
	LFSBytes  int64    // bytes sent to LFS storage (0 when the Hub already had them)
	NoChanges bool     // nothing to commit: no commit was made
}

// localFile is a file to publish, hashed.
type localFile struct {
	path   string // in the repo
	src    string // on disk ("" for in-memory)
	data   []byte // in-memory content (the model card)
	size   int64
	sha256 string
	gitOID string
	sample []byte
	mode   string // "lfs" or "regular", from preupload
}

func (f *localFile) open() (io.ReadSeekCloser, error) {
	if f.src == "" {
		return nopCloser{bytes.NewReader(f.data)}, nil
	}
	return os.Open(f.src)
}

type nopCloser struct{ io.ReadSeeker }

func (nopCloser) Close() error { return nil }

// Publish uploads the GGUF files of opts.Dir (and the model card) to a model repo in one
// commit through the Hub's commit API: create the repo if missing, preupload to learn which
// files are LFS and which are already there, upload new LFS objects (multipart when the Hub
// asks), then one NDJSON commit. Files the Hub already has are not sent again, so a failed
// run can simply be re-run, and a run with nothing new makes no commit (NoChanges).
func (c *Client) Publish(ctx context.Context, opts PublishOptions) (*CommitInfo, error) {
	if err := ValidateRepoID(opts.Repo); err != nil || !strings.Contains(opts.Repo, "/") {
		return nil, fmt.Errorf("hub: publish: target must be org/name: %q", opts.Repo)
	}
	rev := opts.Revision
	if rev == "" {
		rev = DefaultRevision
	}
	if err := validateRevision(rev); err != nil {
		return nil, fmt.Errorf("hub: publish: %w", err)
	}
	if c.offline {
		return nil, fmt.Errorf("%w: publishing needs the network; unset HF_HUB_OFFLINE", ErrOffline)
	}
	if c.token == "" {
		return nil, &Error{Kind: ErrUnauthorized, StatusCode: 401, Message: "publishing needs a token",
			Hint: "set HF_TOKEN (or run `hf auth login`) with a write token from https://huggingface.co/settings/tokens"}
	}
	files, err := collectFiles(opts)
	if err != nil {
		return nil, err
	}
	info := &CommitInfo{Repo: opts.Repo, Revision: rev}
	if info.Created, err = c.createRepo(ctx, opts.Repo, opts.Private); err != nil {
		return nil, err
	}
	if rev != DefaultRevision {
		if err := c.createBranch(ctx, opts.Repo, rev); err != nil {
			return nil, err
		}
	}
	if err := c.hashFiles(ctx, files); err != nil {
		return nil, err
	}
	head, err := c.preupload(ctx, opts.Repo, rev, files, info)
	if err != nil {
		return nil, err
	}
	var todo []*localFile
	for _, f := range files {
		if f.mode != "" {
			todo = append(todo, f)
		}
	}
	if len(todo) == 0 {
		info.NoChanges, info.OID = true, head
		return info, nil
	}
	if err := c.uploadLFS(ctx, opts.Repo, rev, todo, info); err != nil {
		return nil, err
	}
	msg := opts.CommitMessage
	if msg == "" {
		msg = "Upload GGUF files with ggufy"
	}
	if err := c.commit(ctx, opts.Repo, rev, msg, opts.CommitDescription, todo, info); err != nil {
		return nil, err
	}
	for _, f := range todo {
		info.Uploaded = append(info.Uploaded, f.path)
	}
	return info, nil
}

// collectFiles lists what to upload: Dir's files matching Include (default *.gguf), and the
// card as README.md.
func collectFiles(opts PublishOptions) ([]*localFile, error) {
	include := opts.Include
	if len(include) == 0 {
		include = []string{"*.gguf"}
	}
	var files []*localFile
	err := filepath.WalkDir(opts.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(opts.Dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel != "." && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir // .git, .cache, .huggingface
			}
			return nil
		}
		if !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		if opts.Card != nil && rel == "README.md" {
			return nil
		}
		if len(filterPatterns([]string{rel}, include, opts.Exclude)) == 1 {
			files = append(files, &localFile{path: rel, src: p})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hub: publish: %w", err)
	}
	if opts.Card != nil {
		card := opts.Card
		if card.Repo == "" {
			cc := *card
			cc.Repo = opts.Repo
			card = &cc
		}
		files = append(files, &localFile{path: "README.md", data: []byte(ModelCard(*card))})
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("hub: publish: nothing in %s matches %q", opts.Dir, include)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	return files, nil
}

// hashFiles computes size, sha256, git blob sha1 and the 512-byte sample of every file.
func (c *Client) hashFiles(ctx context.Context, files []*localFile) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, min(c.concurrency, 4)))
	for _, f := range files {
		g.Go(func() error {
			r, err := f.open()
			if err != nil {
				return fmt.Errorf("hub: publish: %w", err)
			}
			defer r.Close()
			size, err := r.Seek(0, io.SeekEnd)
			if err != nil {
				return err
			}
			f.size = size
			if _, err := r.Seek(0, io.SeekStart); err != nil {
				return err
			}
			h256, h1 := sha256.New(), sha1.New()
			fmt.Fprintf(h1, "blob %d\x00", size)
			sample := make([]byte, 512)
			n, _ := io.ReadFull(r, sample)
			f.sample = sample[:n]
			h256.Write(f.sample)
			h1.Write(f.sample)
			if _, err := io.Copy(io.MultiWriter(h256, h1), ctxReader{gctx, r}); err != nil {
				return fmt.Errorf("hub: publish: hashing %s: %w", f.path, err)
			}
			f.sha256 = hex.EncodeToString(h256.Sum(nil))
			f.gitOID = hex.EncodeToString(h1.Sum(nil))
			return nil
		})
	}
	return g.Wait()
}

// ctxReader stops a long read when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// createRepo creates the model repo (POST /api/repos/create); a 409 means it exists.
func (c *Client) createRepo(ctx context.Context, repo string, private bool) (bool, error) {
	org, name, _ := strings.Cut(repo, "/")
	payload := map[string]any{"name": name, "organization": org, "type": "model", "private": private}
	resp, _, err := c.postJSON(ctx, c.endpoint+"/api/repos/create", payload, what{endpoint: c.endpoint, repo: repo, write: true})
	if err != nil {
		var he *Error
		if errors.As(err, &he) && he.StatusCode == http.StatusConflict {
			return false, nil
		}
		return false, err
	}
	resp.Body.Close()
	return true, nil
}

// createBranch creates branch from main (POST /api/models/{repo}/branch/{branch}); 409 means
// it exists.
func (c *Client) createBranch(ctx context.Context, repo, branch string) error {
	u := fmt.Sprintf("%s/api/models/%s/branch/%s", c.endpoint, escapeRepoID(repo), url.PathEscape(branch))
	resp, _, err := c.postJSON(ctx, u, map[string]any{}, what{endpoint: c.endpoint, repo: repo, revision: branch, write: true})
	if err != nil {
		var he *Error
		if errors.As(err, &he) && he.StatusCode == http.StatusConflict {
			return nil
		}
		return err
	}
	resp.Body.Close()
	return nil
}

func (c *Client) postJSON(ctx context.Context, u string, payload any, w what) (*http.Response, redirectInfo, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, redirectInfo{}, err
	}
	return c.do(ctx, request{
		method: http.MethodPost, url: u, auth: true, what: w, length: int64(len(body)),
		header: http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}},
		body:   func() (io.Reader, error) { return bytes.NewReader(body), nil },
	})
}

// preupload asks the Hub, 256 files at a time, how each must be uploaded and what it holds
// already; unchanged files get mode "" and land in info.Unchanged. It returns the head commit
// the Hub compared against.
func (c *Client) preupload(ctx context.Context, repo, rev string, files []*localFile, info *CommitInfo) (string, error) {
	u := fmt.Sprintf("%s/api/models/%s/preupload/%s", c.endpoint, escapeRepoID(repo), url.PathEscape(rev))
	var head string
	for start := 0; start < len(files); start += 256 {
		chunk := files[start:min(start+256, len(files))]
		type pf struct {
			Path   string `json:"path"`
			Sample string `json:"sample"`
			Size   int64  `json:"size"`
		}
		req := struct {
			Files []pf `json:"files"`
		}{}
		for _, f := range chunk {
			req.Files = append(req.Files, pf{f.path, base64.StdEncoding.EncodeToString(f.sample), f.size})
		}
		resp, _, err := c.postJSON(ctx, u, req, what{endpoint: c.endpoint, repo: repo, revision: rev, write: true})
		if err != nil {
			return "", err
		}
		var out struct {
			Files []struct {
				Path         string `json:"path"`
				UploadMode   string `json:"uploadMode"`
				ShouldIgnore bool   `json:"shouldIgnore"`
				OID          string `json:"oid"`
			} `json:"files"`
			CommitOID string `json:"commitOid"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&out)
		resp.Body.Close()
		if err != nil {
			return "", fmt.Errorf("hub: publish: bad preupload answer: %w", err)
		}
		head = out.CommitOID
		byPath := map[string]int{}
		for i, f := range out.Files {
			byPath[f.Path] = i
		}
		for _, f := range chunk {
			i, ok := byPath[f.path]
			if !ok {
				return "", fmt.Errorf("hub: publish: the preupload answer does not mention %s", f.path)
			}
			r := out.Files[i]
			if r.UploadMode != "lfs" && r.UploadMode != "regular" {
				return "", fmt.Errorf("hub: publish: unknown upload mode %q for %s", r.UploadMode, f.path)
			}
			remote := strings.ToLower(r.OID)
			if r.ShouldIgnore || (remote != "" && (remote == f.sha256 || remote == f.gitOID)) {
				info.Unchanged = append(info.Unchanged, f.path)
				continue
			}
			f.mode = r.UploadMode
			if f.size == 0 {
				f.mode = "regular" // LFS storage refuses empty objects
			}
		}
	}
	return head, nil
}

// lfsObject is an object of an LFS batch answer.
type lfsObject struct {
	OID     string `json:"oid"`
	Size    int64  `json:"size"`
	Actions struct {
		Upload *lfsAction `json:"upload"`
		Verify *lfsAction `json:"verify"`
	} `json:"actions"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

type lfsAction struct {
	Href   string            `json:"href"`
	Header map[string]string `json:"header"`
}

// uploadLFS sends the LFS files the Hub does not have yet: the batch API says which (objects
// without an upload action are already stored) and how (one PUT, or parts then a completion
// call).
func (c *Client) uploadLFS(ctx context.Context, repo, rev string, files []*localFile, info *CommitInfo) error {
	var lfs []*localFile
	for _, f := range files {
		if f.mode == "lfs" {
			lfs = append(lfs, f)
		}
	}
	if len(lfs) == 0 {
		return nil
	}
	byOID := map[string]*localFile{}
	type job struct {
		f   *localFile
		obj lfsObject
	}
	var jobs []job
	var total int64
	for start := 0; start < len(lfs); start += 100 {
		chunk := lfs[start:min(start+100, len(lfs))]
		type obj struct {
			OID  string `json:"oid"`
			Size int64  `json:"size"`
		}
		req := map[string]any{"operation": "upload", "transfers": []string{"basic", "multipart"},
			"hash_algo": "sha256", "ref": map[string]string{"name": rev}}
		var objs []obj
		for _, f := range chunk {
			objs = append(objs, obj{f.sha256, f.size})
			byOID[f.sha256] = f
		}
		req["objects"] = objs
		body, _ := json.Marshal(req)
		resp, _, err := c.do(ctx, request{
			method: http.MethodPost, url: c.endpoint + "/" + escapeRepoID(repo) + ".git/info/lfs/objects/batch",
			auth: true, length: int64(len(body)), what: what{endpoint: c.endpoint, repo: repo, revision: rev, write: true},
			header: http.Header{"Accept": {"application/vnd.git-lfs+json"}, "Content-Type": {"application/vnd.git-lfs+json"}},
			body:   func() (io.Reader, error) { return bytes.NewReader(body), nil },
		})
		if err != nil {
			return err
		}
		var out struct {
			Objects []lfsObject `json:"objects"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&out)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("hub: publish: bad LFS batch answer: %w", err)
		}
		for _, o := range out.Objects {
			f := byOID[o.OID]
			if f == nil {
				return fmt.Errorf("hub: publish: the LFS batch answer names an object we did not ask for (%s)", o.OID)
			}
			if o.Error != nil {
				return fmt.Errorf("hub: publish: %s: LFS storage refused it (%d): %s", f.path, o.Error.Code, o.Error.Message)
			}
			if o.Actions.Upload == nil {
				continue // already stored
			}
			jobs = append(jobs, job{f, o})
			total += f.size
		}
	}
	if len(jobs) == 0 {
		return nil
	}
	ps := newProgressSet(c.progress, "upload "+repo, total)
	defer ps.close()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.concurrency)
	var mu sync.Mutex
	for _, j := range jobs {
		g.Go(func() error {
			bar := ps.file(j.f.path, j.f.size, 0)
			err := c.uploadObject(gctx, repo, j.f, j.obj, ps, bar)
			ps.finish(bar, err != nil)
			if err == nil {
				mu.Lock()
				info.LFSBytes += j.f.size
				mu.Unlock()
			}
			return err
		})
	}
	return g.Wait()
}

// uploadObject PUTs one LFS object (or its parts), then calls verify when asked to.
func (c *Client) uploadObject(ctx context.Context, repo string, f *localFile, o lfsObject, ps *progressSet, bar *barLine) error {
	up := o.Actions.Upload
	src, err := f.open()
	if err != nil {
		return err
	}
	defer src.Close()
	ra, ok := src.(io.ReaderAt)
	if !ok {
		return fmt.Errorf("hub: publish: %s: not seekable", f.path)
	}
	w := what{endpoint: c.endpoint, repo: repo, path: f.path, write: true}
	put := func(u string, off, n int64, hdr http.Header) (*http.Response, error) {
		var sent int64
		resp, _, err := c.do(ctx, request{
			method: http.MethodPut, url: u, length: n, header: hdr, what: w,
			body: func() (io.Reader, error) {
				ps.undo(bar, sent)
				sent = 0
				return &countingReader{r: io.NewSectionReader(ra, off, n), add: func(k int64) { sent += k; ps.add(bar, k) }}, nil
			},
		})
		return resp, err
	}
	if cs, ok := up.Header["chunk_size"]; ok {
		chunk, err := strconv.ParseInt(cs, 10, 64)
		if err != nil || chunk <= 0 {
			return fmt.Errorf("hub: publish: %s: bad chunk_size %q from LFS batch", f.path, cs)
		}
		nparts := (f.size + chunk - 1) / chunk
		var urls []string
		for i := int64(1); i <= nparts; i++ {
			u, ok := up.Header[strconv.FormatInt(i, 10)]
			if !ok {
				return fmt.Errorf("hub: publish: %s: LFS batch gave no URL for part %d of %d", f.path, i, nparts)
			}
			urls = append(urls, u)
		}
		if len(up.Header)-1 != len(urls) {
			return fmt.Errorf("hub: publish: %s: LFS batch gave %d part URLs for %d parts", f.path, len(up.Header)-1, nparts)
		}
		type part struct {
			PartNumber int    `json:"partNumber"`
			ETag       string `json:"etag"`
		}
		parts := make([]part, nparts)
		for i, u := range urls {
			off := int64(i) * chunk
			resp, err := put(u, off, min(chunk, f.size-off), nil)
			if err != nil {
				return fmt.Errorf("hub: publish: %s: part %d: %w", f.path, i+1, err)
			}
			resp.Body.Close()
			etag := resp.Header.Get("ETag")
			if etag == "" {
				return fmt.Errorf("hub: publish: %s: part %d: storage returned no ETag", f.path, i+1)
			}
			parts[i] = part{i + 1, etag}
		}
		body, _ := json.Marshal(map[string]any{"oid": f.sha256, "parts": parts})
		resp, _, err := c.do(ctx, request{
			method: http.MethodPost, url: up.Href, length: int64(len(body)), what: w,
			header: http.Header{"Accept": {"application/vnd.git-lfs+json"}, "Content-Type": {"application/vnd.git-lfs+json"}},
			body:   func() (io.Reader, error) { return bytes.NewReader(body), nil },
		})
		if err != nil {
			return fmt.Errorf("hub: publish: %s: completing the multipart upload: %w", f.path, err)
		}
		resp.Body.Close()
	} else {
		hdr := http.Header{}
		for k, v := range up.Header {
			hdr.Set(k, v)
		}
		resp, err := put(up.Href, 0, f.size, hdr)
		if err != nil {
			return fmt.Errorf("hub: publish: %s: %w", f.path, err)
		}
		resp.Body.Close()
	}
	if v := o.Actions.Verify; v != nil {
		body, _ := json.Marshal(map[string]any{"oid": f.sha256, "size": f.size})
		hdr := http.Header{"Accept": {"application/vnd.git-lfs+json"}, "Content-Type": {"application/vnd.git-lfs+json"}}
		for k, val := range v.Header {
			hdr.Set(k, val)
		}
		resp, _, err := c.do(ctx, request{
			method: http.MethodPost, url: v.Href, auth: strings.HasPrefix(v.Href, c.endpoint+"/"), length: int64(len(body)), header: hdr, what: w,
			body: func() (io.Reader, error) { return bytes.NewReader(body), nil },
		})
		if err != nil {
			return fmt.Errorf("hub: publish: %s: LFS verify failed (%w)", f.path, err)
		}
		resp.Body.Close()
	}
	return nil
}

type countingReader struct {
	r   io.Reader
	add func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.add(int64(n))
	}
	return n, err
}

// commit posts the NDJSON commit: a header line, then one "file" (base64) or "lfsFile" line
// per file. It is not retried (a lost answer would make a duplicate commit); Publish can be
// re-run instead.
func (c *Client) commit(ctx context.Context, repo, rev, msg, desc string, files []*localFile, info *CommitInfo) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(map[string]any{"key": "header", "value": map[string]any{"summary": msg, "description": desc}})
	for _, f := range files {
		if f.mode == "lfs" {
			enc.Encode(map[string]any{"key": "lfsFile", "value": map[string]any{"path": f.path, "algo": "sha256", "oid": f.sha256, "size": f.size}})
			continue
		}
		r, err := f.open()
		if err != nil {
			return err
		}
		data, err := io.ReadAll(io.LimitReader(r, f.size+1))
		r.Close()
		if err != nil {
			return err
		}
		if int64(len(data)) != f.size {
			return fmt.Errorf("hub: publish: %s changed while publishing", f.path)
		}
		enc.Encode(map[string]any{"key": "file", "value": map[string]any{"path": f.path, "encoding": "base64", "content": base64.StdEncoding.EncodeToString(data)}})
	}
	body := buf.Bytes()
	u := fmt.Sprintf("%s/api/models/%s/commit/%s", c.endpoint, escapeRepoID(repo), url.PathEscape(rev))
	resp, _, err := c.do(ctx, request{
		method: http.MethodPost, url: u, auth: true, noRetry: true, length: int64(len(body)),
		what:   what{endpoint: c.endpoint, repo: repo, revision: rev, write: true},
		header: http.Header{"Content-Type": {"application/x-ndjson"}, "Accept": {"application/json"}},
		body:   func() (io.Reader, error) { return bytes.NewReader(body), nil },
	})
	if err != nil {
		return fmt.Errorf("%w\nre-run publish to finish: files already uploaded are not sent again", err)
	}
	defer resp.Body.Close()
	var out struct {
		CommitOID string `json:"commitOid"`
		CommitURL string `json:"commitUrl"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil || out.CommitOID == "" {
		return fmt.Errorf("hub: publish: bad commit answer: %v", err)
	}
	info.OID, info.URL = out.CommitOID, out.CommitURL
	return nil
}
