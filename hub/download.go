package hub

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
)

// DownloadOptions selects the files of a revision to fetch.
type DownloadOptions struct {
	// Include keeps only files matching one of these patterns (Python fnmatch: '*' also matches
	// '/'; "dir/" means everything below dir). Empty: what conversion needs (see Download).
	Include []string
	// Exclude drops files matching one of these patterns, after Include.
	Exclude []string
	// All fetches every file of the revision (Include and Exclude still apply).
	All bool
}

// Download makes the files of repo at rev ("" for main) available in the cache and returns
// the snapshot folder (…/models--org--name/snapshots/{commit}) holding them.
//
// Without Include or All, it fetches what conversion needs: config.json,
// generation_config.json, tokenizer files, chat templates, and the weights: the shards named by
// model.safetensors.index.json, else model.safetensors, else the root *.safetensors; only when
// the revision has no safetensors, pytorch_model*.bin (by their index when there is one).
//
// Files already cached (by us or by huggingface_hub) are not fetched again. Offline
// (HF_HUB_OFFLINE=1), or when the Hub cannot be reached, the cached snapshot is used;
// ErrOffline or ErrIncomplete say when it cannot serve the request.
func (c *Client) Download(ctx context.Context, repo, rev string, opts DownloadOptions) (string, error) {
	if rev == "" {
		rev = DefaultRevision
	}
	if c.offline {
		return c.downloadCached(repo, rev, opts, nil)
	}
	ri, err := c.Resolve(ctx, repo, rev)
	if err != nil {
		if unreachable(err) && ctx.Err() == nil {
			if dir, cerr := c.downloadCached(repo, rev, opts, err); cerr == nil {
				c.logf("cannot reach %s (%v); using the cached snapshot %s", c.endpoint, firstLine(err), dir)
				return dir, nil
			}
		}
		return "", err
	}
	rc := c.repoCache(repo)
	if err := os.MkdirAll(rc.snapshotDir(ri.SHA), 0o777); err != nil {
		return "", fmt.Errorf("hub: cache %s: %w", c.cacheDir, err)
	}
	if err := rc.writeRef(rev, ri.SHA); err != nil {
		return "", fmt.Errorf("hub: cache %s: writing ref %s: %w", c.cacheDir, rev, err)
	}
	tx := &transfer{c: c, repo: repo, rc: rc, sha: ri.SHA}

	paths := make([]string, len(ri.Files))
	for i, f := range ri.Files {
		paths[i] = f.Path
	}
	var want []string
	if opts.All || len(opts.Include) > 0 {
		want = filterPatterns(paths, opts.Include, opts.Exclude)
	} else {
		plan := planWeights(paths)
		weights := plan.weights
		if plan.index != "" {
			// The index is small: fetch it first to learn which shards it names (repos such
			// as Mistral's also ship a consolidated.safetensors that conversion does not need).
			f, _ := ri.File(plan.index)
			if err := tx.fetch(ctx, target{File: f}, nil); err != nil {
				return "", err
			}
			data, err := os.ReadFile(rc.pointerPath(ri.SHA, plan.index))
			if err != nil {
				return "", fmt.Errorf("hub: %s@%s: %w", repo, rev, err)
			}
			if weights, err = indexShards(data, plan.index); err != nil {
				return "", err
			}
		}
		if len(weights) == 0 {
			return "", fmt.Errorf("hub: %s@%s has no safetensors or pytorch_model*.bin weights at its root; pick files with Include", repo, rev)
		}
		for _, w := range weights {
			if _, ok := ri.File(w); !ok {
				return "", fmt.Errorf("hub: %s@%s: %s names %s, which the revision does not have", repo, rev, plan.index, w)
			}
		}
		for _, p := range paths {
			if isConversionMetadata(p) && (!strings.HasSuffix(p, ".index.json") || p == plan.index) {
				want = append(want, p)
			}
		}
		want = filterPatterns(append(want, weights...), nil, opts.Exclude)
	}
	if len(want) == 0 {
		return "", fmt.Errorf("hub: %s@%s: no file matches include %q / exclude %q", repo, rev, opts.Include, opts.Exclude)
	}
	files := make([]target, 0, len(want))
	for _, p := range want {
		f, _ := ri.File(p)
		files = append(files, target{File: f})
	}
	if err := tx.fetchAll(ctx, files, fmt.Sprintf("%s@%.7s", repo, ri.SHA)); err != nil {
		return "", err
	}
	return rc.snapshotDir(ri.SHA), nil
}

// DownloadFile fetches one file into the cache and returns its path in the snapshot, like
// huggingface_hub's hf_hub_download: a cached file is returned without network when rev is a
// commit (or offline); a missing file is recorded in .no_exist/ and reported as
// ErrEntryNotFound, from the cache next time.
func (c *Client) DownloadFile(ctx context.Context, repo, rev, path string) (string, error) {
	if rev == "" {
		rev = DefaultRevision
	}
	if err := ValidateRepoID(repo); err != nil {
		return "", fmt.Errorf("hub: %w", err)
	}
	if err := validateRevision(rev); err != nil {
		return "", fmt.Errorf("hub: %w", err)
	}
	if err := validateRepoPath(path); err != nil {
		return "", err
	}
	rc := c.repoCache(repo)
	fromCache := func(cause error) (string, error) {
		sha, ok := rc.commitFor(rev)
		if ok && rc.pointerOK(sha, path) {
			return rc.pointerPath(sha, path), nil
		}
		if ok && rc.hasNoExist(sha, path) {
			return "", &Error{Kind: ErrEntryNotFound, StatusCode: 404, Code: "EntryNotFound",
				Message: "recorded in the cache's .no_exist", Hint: fmt.Sprintf("%s@%s has no file %q.", repo, rev, path)}
		}
		if cause != nil {
			return "", cause
		}
		return "", fmt.Errorf("%w: %s@%s: %s is not in the cache %s (HF_HUB_OFFLINE is set: run once online to download it)", ErrOffline, repo, rev, path, c.cacheDir)
	}
	if commitPattern.MatchString(rev) && rc.pointerOK(rev, path) {
		return rc.pointerPath(rev, path), nil
	}
	if c.offline {
		return fromCache(nil)
	}
	meta, err := c.fileMeta(ctx, repo, rev, path)
	if err != nil {
		var he *Error
		if errors.As(err, &he) && he.Kind == ErrEntryNotFound && meta.commit != "" {
			if rc.markNoExist(meta.commit, path) == nil {
				rc.writeRef(rev, meta.commit)
			}
			return "", err
		}
		if unreachable(err) && ctx.Err() == nil {
			if p, cerr := fromCache(err); cerr == nil {
				c.logf("cannot reach %s (%v); using the cached %s", c.endpoint, firstLine(err), p)
				return p, nil
			}
		}
		return "", err
	}
	if err := rc.writeRef(rev, meta.commit); err != nil {
		return "", fmt.Errorf("hub: cache %s: %w", c.cacheDir, err)
	}
	tx := &transfer{c: c, repo: repo, rc: rc, sha: meta.commit}
	t := target{File: File{Path: path, Size: meta.size}}
	if sha256Pattern.MatchString(meta.etag) {
		t.LFS = &LFS{SHA256: meta.etag, Size: meta.size}
	} else {
		t.BlobID = meta.etag
	}
	if err := tx.fetchAll(ctx, []target{t}, path); err != nil {
		return "", err
	}
	return rc.pointerPath(meta.commit, path), nil
}

// unreachable reports errors after which huggingface_hub falls back to the cache: the Hub
// could not be reached or kept failing (not: not found, gated, unauthorized).
func unreachable(err error) bool {
	var he *Error
	if errors.As(err, &he) {
		return he.Kind == ErrServer || he.Kind == ErrRateLimited
	}
	return errors.Is(err, ErrServer) || retryableErr(err)
}

// fileMetadata is what a HEAD on /resolve/ tells (huggingface_hub's get_hf_file_metadata).
type fileMetadata struct {
	commit string
	etag   string
	size   int64
}

// fileMeta HEADs {endpoint}/{repo}/resolve/{rev}/{path}: X-Repo-Commit, X-Linked-Etag (or
// ETag), X-Linked-Size (or Content-Length). On EntryNotFound, commit is still set when the
// Hub said which commit it looked at.
func (c *Client) fileMeta(ctx context.Context, repo, rev, path string) (fileMetadata, error) {
	u := fmt.Sprintf("%s/%s/resolve/%s/%s", c.endpoint, escapeRepoID(repo), url.PathEscape(rev), escapeFilePath(path))
	resp, info, err := c.do(ctx, request{
		method: http.MethodHead, url: u, auth: true, sameHostOnly: true,
		header: http.Header{"Accept-Encoding": {"identity"}},
		what:   what{endpoint: c.endpoint, repo: repo, revision: rev, path: path},
	})
	m := fileMetadata{commit: info.repoCommit}
	if err != nil {
		return m, err
	}
	resp.Body.Close()
	m.etag = normalizeEtag(info.linkedEtag)
	if m.etag == "" {
		m.etag = normalizeEtag(info.etag)
	}
	sizeStr := info.linkedSize
	if sizeStr == "" && resp.StatusCode < 300 {
		sizeStr = resp.Header.Get("Content-Length")
	}
	size, perr := strconv.ParseInt(sizeStr, 10, 64)
	switch {
	case !commitPattern.MatchString(m.commit):
		return m, fmt.Errorf("hub: %s: no X-Repo-Commit in the answer (is %s a Hugging Face Hub, or is a proxy in the way?)", redactURL(u), c.endpoint)
	case !etagPattern.MatchString(m.etag):
		return m, fmt.Errorf("hub: %s: no usable ETag in the answer", redactURL(u))
	case perr != nil || size < 0:
		return m, fmt.Errorf("hub: %s: no file size in the answer", redactURL(u))
	}
	m.size = size
	return m, nil
}

// normalizeEtag strips W/ and quotes, as huggingface_hub's _normalize_etag.
func normalizeEtag(e string) string {
	e = strings.TrimPrefix(strings.TrimSpace(e), "W/")
	return strings.Trim(e, `"`)
}

// downloadCached serves Download from the cache alone. cause is the network error that sent
// us here (nil when offline by choice).
func (c *Client) downloadCached(repo, rev string, opts DownloadOptions, cause error) (string, error) {
	ri, err := c.resolveCached(repo, rev)
	if err != nil {
		if cause != nil {
			return "", cause
		}
		return "", err
	}
	rc := c.repoCache(repo)
	snap := rc.snapshotDir(ri.SHA)
	offlineErr := ErrOffline
	if cause != nil {
		offlineErr = ErrServer
	}
	incomplete := func(missing []string) error {
		sort.Strings(missing)
		sample := strings.Join(missing[:min(3, len(missing))], ", ")
		if len(missing) > 3 {
			sample += fmt.Sprintf(", … (%d more)", len(missing)-3)
		}
		return fmt.Errorf("%w (%w): %s@%s: the cached snapshot %s lacks %s; run online to complete it", ErrIncomplete, offlineErr, repo, rev, snap, sample)
	}
	local := make([]string, len(ri.Files))
	for i, f := range ri.Files {
		local[i] = f.Path
	}
	have := map[string]bool{}
	for _, p := range local {
		have[p] = true
	}
	var missing []string
	// huggingface_hub >= 1.x records the commit's full file list: check against it.
	if tree, ok := rc.cachedTree(ri.SHA); ok {
		var expect []string
		if opts.All || len(opts.Include) > 0 {
			expect = filterPatterns(tree, opts.Include, opts.Exclude)
		} else {
			for _, p := range tree {
				if isConversionMetadata(p) && !strings.HasSuffix(p, ".index.json") {
					expect = append(expect, p)
				}
			}
			expect = filterPatterns(expect, nil, opts.Exclude)
		}
		for _, p := range expect {
			if !have[p] {
				missing = append(missing, p)
			}
		}
		if len(missing) > 0 {
			return "", incomplete(missing)
		}
	}
	if !opts.All && len(opts.Include) == 0 {
		plan := planWeights(local)
		weights := plan.weights
		if plan.index != "" {
			data, err := os.ReadFile(rc.pointerPath(ri.SHA, plan.index))
			if err != nil {
				return "", fmt.Errorf("hub: %s@%s: %w", repo, rev, err)
			}
			if weights, err = indexShards(data, plan.index); err != nil {
				return "", err
			}
		}
		if len(weights) == 0 {
			return "", fmt.Errorf("%w (%w): %s@%s: the cached snapshot %s has no weights; run online to download them", ErrIncomplete, offlineErr, repo, rev, snap)
		}
		for _, w := range filterPatterns(weights, nil, opts.Exclude) {
			if !have[w] {
				missing = append(missing, w)
			}
		}
		if !have["config.json"] && !rc.hasNoExist(ri.SHA, "config.json") && len(filterPatterns([]string{"config.json"}, nil, opts.Exclude)) == 1 {
			missing = append(missing, "config.json")
		}
	} else if len(filterPatterns(local, opts.Include, opts.Exclude)) == 0 {
		return "", fmt.Errorf("%w (%w): %s@%s: nothing in the cached snapshot %s matches include %q / exclude %q", ErrIncomplete, offlineErr, repo, rev, snap, opts.Include, opts.Exclude)
	}
	if len(missing) > 0 {
		return "", incomplete(missing)
	}
	return snap, nil
}
