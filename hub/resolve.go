package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// RepoInfo is a repo at one commit, as the Hub's revision API describes it.
type RepoInfo struct {
	ID       string // canonical repo id
	Revision string // what was asked for (branch, tag or commit)
	SHA      string // the commit it resolved to
	Private  bool
	Gated    string // "", "auto" or "manual"
	Files    []File // sorted by path

	License      string // from the model card (cardData.license), e.g. "apache-2.0" or "other"
	LicenseName  string // cardData.license_name, for "other"
	LicenseLink  string // cardData.license_link
	LibraryName  string
	PipelineTag  string
	Tags         []string
	BaseModel    []string // cardData.base_model
	LastModified time.Time

	// FromCache is set when the Hub was not asked (offline): Files then lists what the cached
	// snapshot holds, and the card fields are empty.
	FromCache bool
}

// File is one file of a revision.
type File struct {
	Path   string
	Size   int64
	BlobID string // git blob sha1 (of the LFS pointer, for LFS files)
	LFS    *LFS   // nil for a regular git file
}

// LFS is the Git LFS object behind a file.
type LFS struct {
	SHA256      string
	Size        int64
	PointerSize int64
}

// ETag is the name of the file's blob in the cache: the LFS sha256, else the git blob sha1,
// exactly as huggingface_hub names it (from X-Linked-Etag or ETag).
func (f File) ETag() string {
	if f.LFS != nil {
		return f.LFS.SHA256
	}
	return f.BlobID
}

// File returns the file at path, if the revision has it.
func (ri *RepoInfo) File(path string) (File, bool) {
	i := sort.Search(len(ri.Files), func(i int) bool { return ri.Files[i].Path >= path })
	if i < len(ri.Files) && ri.Files[i].Path == path {
		return ri.Files[i], true
	}
	return File{}, false
}

// apiModelInfo is the part of GET /api/models/{repo}/revision/{rev}?blobs=true we use.
type apiModelInfo struct {
	ID           string          `json:"id"`
	SHA          string          `json:"sha"`
	Private      bool            `json:"private"`
	Gated        json.RawMessage `json:"gated"` // false, "auto" or "manual"
	Disabled     bool            `json:"disabled"`
	LibraryName  string          `json:"library_name"`
	PipelineTag  string          `json:"pipeline_tag"`
	Tags         []string        `json:"tags"`
	LastModified string          `json:"lastModified"`
	CardData     struct {
		License     json.RawMessage `json:"license"`
		LicenseName string          `json:"license_name"`
		LicenseLink string          `json:"license_link"`
		BaseModel   json.RawMessage `json:"base_model"`
	} `json:"cardData"`
	Siblings []struct {
		RFilename string `json:"rfilename"`
		Size      *int64 `json:"size"`
		BlobID    string `json:"blobId"`
		LFS       *struct {
			SHA256      string `json:"sha256"`
			Size        int64  `json:"size"`
			PointerSize int64  `json:"pointerSize"`
		} `json:"lfs"`
	} `json:"siblings"`
}

// Resolve asks the Hub which commit rev ("" for main) of repo points to, and which files it
// holds with their sizes and hashes (GET /api/models/{repo}/revision/{rev}?blobs=true).
// Offline, it answers from the cache (FromCache set) or fails with ErrOffline.
func (c *Client) Resolve(ctx context.Context, repo, rev string) (*RepoInfo, error) {
	if err := ValidateRepoID(repo); err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	if rev == "" {
		rev = DefaultRevision
	}
	if err := validateRevision(rev); err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	if c.offline {
		return c.resolveCached(repo, rev)
	}
	return c.resolveRemote(ctx, repo, rev)
}

func (c *Client) resolveRemote(ctx context.Context, repo, rev string) (*RepoInfo, error) {
	u := fmt.Sprintf("%s/api/models/%s/revision/%s?blobs=true", c.endpoint, escapeRepoID(repo), url.PathEscape(rev))
	resp, _, err := c.do(ctx, request{
		method: http.MethodGet, url: u, auth: true,
		header: http.Header{"Accept": {"application/json"}},
		what:   what{endpoint: c.endpoint, repo: repo, revision: rev},
	})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var m apiModelInfo
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(&m); err != nil {
		return nil, fmt.Errorf("hub: %s@%s: bad answer from %s: %w", repo, rev, redactURL(u), err)
	}
	if !commitPattern.MatchString(m.SHA) {
		return nil, fmt.Errorf("hub: %s@%s: the Hub's answer has no commit sha (is %s a Hugging Face Hub?)", repo, rev, c.endpoint)
	}
	ri := &RepoInfo{ID: m.ID, Revision: rev, SHA: m.SHA, Private: m.Private,
		LibraryName: m.LibraryName, PipelineTag: m.PipelineTag, Tags: m.Tags,
		LicenseName: m.CardData.LicenseName, LicenseLink: m.CardData.LicenseLink}
	if ri.ID == "" {
		ri.ID = repo
	}
	var g string
	if json.Unmarshal(m.Gated, &g) == nil {
		ri.Gated = g
	}
	ri.License = firstString(m.CardData.License)
	ri.BaseModel = stringList(m.CardData.BaseModel)
	if t, err := time.Parse(time.RFC3339, m.LastModified); err == nil {
		ri.LastModified = t
	}
	for _, s := range m.Siblings {
		if err := validateRepoPath(s.RFilename); err != nil {
			return nil, fmt.Errorf("hub: %s@%s: %w", repo, rev, err)
		}
		f := File{Path: s.RFilename, BlobID: s.BlobID}
		if s.Size != nil {
			f.Size = *s.Size
		}
		if s.LFS != nil {
			f.LFS = &LFS{SHA256: strings.ToLower(s.LFS.SHA256), Size: s.LFS.Size, PointerSize: s.LFS.PointerSize}
			f.Size = s.LFS.Size
		}
		ri.Files = append(ri.Files, f)
	}
	sort.Slice(ri.Files, func(i, j int) bool { return ri.Files[i].Path < ri.Files[j].Path })
	return ri, nil
}

// resolveCached answers Resolve from the cache: refs/{rev} (or rev itself when it is a commit)
// names the snapshot, whose files are listed with the blobs they point to.
func (c *Client) resolveCached(repo, rev string) (*RepoInfo, error) {
	cache := c.repoCache(repo)
	sha, ok := cache.commitFor(rev)
	if !ok {
		return nil, fmt.Errorf("%w: %s@%s: no cached revision under %s (HF_HUB_OFFLINE is set: run once online to download it)", ErrOffline, repo, rev, cache.dir)
	}
	snap := cache.snapshotDir(sha)
	if st, err := os.Stat(snap); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("%w: %s@%s: commit %s has no snapshot under %s (HF_HUB_OFFLINE is set: run once online to download it)", ErrOffline, repo, rev, sha, cache.dir)
	}
	ri := &RepoInfo{ID: repo, Revision: rev, SHA: sha, FromCache: true}
	err := filepath.WalkDir(snap, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || strings.Contains(d.Name(), tmpLinkMark) {
			return nil
		}
		rel, err := filepath.Rel(snap, p)
		if err != nil {
			return err
		}
		st, err := os.Stat(p) // follows the symlink into blobs/
		if err != nil {
			return nil // dangling link: not usable, so not listed
		}
		f := File{Path: filepath.ToSlash(rel), Size: st.Size()}
		if target, err := os.Readlink(p); err == nil {
			etag := filepath.Base(target)
			if sha256Pattern.MatchString(etag) {
				f.LFS = &LFS{SHA256: etag, Size: st.Size()}
			} else {
				f.BlobID = etag
			}
		}
		ri.Files = append(ri.Files, f)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hub: %s@%s: reading cached snapshot: %w", repo, rev, err)
	}
	sort.Slice(ri.Files, func(i, j int) bool { return ri.Files[i].Path < ri.Files[j].Path })
	return ri, nil
}

func firstString(raw json.RawMessage) string {
	l := stringList(raw)
	if len(l) > 0 {
		return l[0]
	}
	return ""
}

// stringList decodes a YAML-ish card field that may be a string or a list of strings.
func stringList(raw json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return nil
		}
		return []string{s}
	}
	var l []string
	if json.Unmarshal(raw, &l) == nil {
		return l
	}
	return nil
}
