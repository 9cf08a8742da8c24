package hub

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

var sha256Pattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// tmpLinkMark names a link being created; a crash can leave one, which readers skip.
const tmpLinkMark = ".ggufy-tmp-"

// etagPattern is what we accept as a blob name: a git sha1 or an LFS sha256 (or, from other
// servers, any plain token that cannot climb out of blobs/).
var etagPattern = regexp.MustCompile(`^[0-9A-Za-z_\-]{1,128}$`)

// repoCache is one repo's folder in the huggingface_hub cache.
type repoCache struct {
	root string // the hub cache
	dir  string // root/models--org--name
	lock string // root/.locks/models--org--name
}

func (c *Client) repoCache(repo string) repoCache {
	name := repoFolderName(repo)
	return repoCache{root: c.cacheDir, dir: filepath.Join(c.cacheDir, name), lock: filepath.Join(c.cacheDir, ".locks", name)}
}

func (rc repoCache) snapshotDir(sha string) string { return filepath.Join(rc.dir, "snapshots", sha) }

func (rc repoCache) blobPath(etag string) string { return filepath.Join(rc.dir, "blobs", etag) }

func (rc repoCache) pointerPath(sha, path string) string {
	return filepath.Join(rc.dir, "snapshots", sha, filepath.FromSlash(path))
}

func (rc repoCache) noExistPath(sha, path string) string {
	return filepath.Join(rc.dir, ".no_exist", sha, filepath.FromSlash(path))
}

// commitFor maps a revision to a commit using refs/ (a full sha maps to itself).
func (rc repoCache) commitFor(rev string) (string, bool) {
	if commitPattern.MatchString(rev) {
		return rev, true
	}
	b, err := os.ReadFile(filepath.Join(rc.dir, "refs", filepath.FromSlash(rev)))
	if err != nil {
		return "", false
	}
	sha := strings.TrimSpace(string(b))
	if !commitPattern.MatchString(sha) {
		return "", false
	}
	return sha, true
}

// writeRef records that rev points to sha (refs/{rev}, no trailing newline, written
// atomically), unless rev is the commit itself or the ref already says so.
func (rc repoCache) writeRef(rev, sha string) error {
	if rev == sha {
		return nil
	}
	p := filepath.Join(rc.dir, "refs", filepath.FromSlash(rev))
	if b, err := os.ReadFile(p); err == nil && string(b) == sha {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		return err
	}
	return writeFileAtomic(p, []byte(sha))
}

// hasNoExist reports whether huggingface_hub (or we) recorded that path is absent at sha.
func (rc repoCache) hasNoExist(sha, path string) bool {
	st, err := os.Stat(rc.noExistPath(sha, path))
	return err == nil && st.Mode().IsRegular()
}

// markNoExist records that path does not exist at sha (an empty file, as huggingface_hub).
func (rc repoCache) markNoExist(sha, path string) error {
	p := rc.noExistPath(sha, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o666)
	if err != nil {
		return err
	}
	return f.Close()
}

// link points snapshots/{sha}/{path} at blobs/{etag} with a relative symlink, as
// huggingface_hub's _create_symlink does ("../../blobs/<etag>", one more "../" per folder).
func (rc repoCache) link(sha, path, etag string) error {
	ptr := rc.pointerPath(sha, path)
	blob := rc.blobPath(etag)
	if err := os.MkdirAll(filepath.Dir(ptr), 0o777); err != nil {
		return err
	}
	rel, err := filepath.Rel(filepath.Dir(ptr), blob)
	if err != nil {
		rel = blob
	}
	if cur, err := os.Readlink(ptr); err == nil && cur == rel {
		return nil
	}
	// Build the link aside and rename it over any old pointer: readers never see a gap.
	tmp := ptr + tmpLinkMark + randHex(4)
	if err := os.Symlink(rel, tmp); err != nil {
		return fmt.Errorf("hub: cannot create symlink in the cache (a file system without symlinks is not supported): %w", err)
	}
	if err := os.Rename(tmp, ptr); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// pointerOK reports whether snapshots/{sha}/{path} exists and resolves to a regular file.
func (rc repoCache) pointerOK(sha, path string) bool {
	st, err := os.Stat(rc.pointerPath(sha, path))
	return err == nil && st.Mode().IsRegular()
}

// treeCacheFile is huggingface_hub's (>= 1.x) record of a commit's full file list,
// trees/{sha}.json; we read it to tell whether an offline snapshot is complete.
type treeCacheFile struct {
	FormatVersion int                        `json:"format_version"`
	Files         map[string]json.RawMessage `json:"files"`
}

// cachedTree returns the file list huggingface_hub recorded for sha, if any.
func (rc repoCache) cachedTree(sha string) ([]string, bool) {
	b, err := os.ReadFile(filepath.Join(rc.dir, "trees", sha+".json"))
	if err != nil || len(b) > 64<<20 {
		return nil, false
	}
	var t treeCacheFile
	if json.Unmarshal(b, &t) != nil || t.FormatVersion != 1 || t.Files == nil {
		return nil, false
	}
	out := make([]string, 0, len(t.Files))
	for p := range t.Files {
		if validateRepoPath(p) == nil {
			out = append(out, p)
		}
	}
	return out, true
}

// writeFileAtomic writes data to a temporary file next to p and renames it over p.
func writeFileAtomic(p string, data []byte) error {
	tmp := p + "." + randHex(4) + ".tmp"
	if err := os.WriteFile(tmp, data, 0o666); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
