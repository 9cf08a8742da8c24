// Package hubtest is a fake Hugging Face Hub for tests: an httptest server that holds repos
// with branches, tags, commits and files (regular and LFS), users with tokens, private and
// gated repos, and accepts repo creation, preupload, the LFS batch API (basic and multipart
// uploads to a fake CDN on another host) and NDJSON commits.
//
// It answers the way huggingface.co does: status codes, X-Error-Code/X-Error-Message,
// X-Repo-Commit, ETag/X-Linked-Etag/X-Linked-Size, a relative 307 to /api/resolve-cache/ for
// regular files and a 302 to the CDN for LFS files (the CDN, like S3, refuses a request that
// also carries an Authorization header), Range requests. Faults can be injected: dropped
// connections, error statuses, corrupted bytes, ignored Range headers.
package hubtest

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a fake Hub and its CDN.
type Server struct {
	// URL is the Hub endpoint (use as HF_ENDPOINT); CDNURL the LFS storage host.
	URL    string
	CDNURL string

	// LFSThreshold: files at least this large are LFS (default 10 MB, as the Hub), besides
	// the extensions of the Hub's default .gitattributes and binary files.
	LFSThreshold int64
	// MultipartChunk: LFS uploads larger than this are multipart with parts of this size
	// (0: always a single PUT).
	MultipartChunk int64

	hub, cdn *httptest.Server
	secret   []byte

	mu      sync.Mutex
	users   map[string]*user // by token
	repos   map[string]*Repo // by lower-case id
	lfs     map[string][]byte
	parts   map[string]map[int][]byte // multipart uploads in progress, by oid
	faults  []*Fault
	counter int

	logMu  sync.Mutex // the request log has its own lock: handlers log while holding mu
	log    []Request
	logGen int
}

type user struct {
	name string
	orgs []string
}

// Request is one request the fake answered, for assertions.
type Request struct {
	Host   string // "hub" or "cdn"
	Method string
	Path   string // unescaped
	Query  string
	Range  string
	Auth   bool // carried an Authorization header
	Status int
}

// New starts a fake Hub closed at the end of the test.
func New(t testing.TB) *Server {
	s := NewServer()
	t.Cleanup(s.Close)
	return s
}

// NewServer starts a fake Hub; Close it when done.
func NewServer() *Server {
	s := &Server{
		LFSThreshold: 10 << 20,
		secret:       make([]byte, 32),
		users:        map[string]*user{},
		repos:        map[string]*Repo{},
		lfs:          map[string][]byte{},
		parts:        map[string]map[int][]byte{},
	}
	rand.Read(s.secret)
	s.hub = httptest.NewServer(s.logged("hub", http.HandlerFunc(s.serveHub)))
	s.cdn = httptest.NewServer(s.logged("cdn", http.HandlerFunc(s.serveCDN)))
	s.URL = s.hub.URL
	// Another host name for the same loopback address: the CDN is a different origin.
	s.CDNURL = strings.Replace(s.cdn.URL, "127.0.0.1", "localhost", 1)
	return s
}

// Close stops both servers.
func (s *Server) Close() {
	s.hub.CloseClientConnections()
	s.cdn.CloseClientConnections()
	s.hub.Close()
	s.cdn.Close()
}

// AddUser registers a user (or organization member) and the token that authenticates it.
func (s *Server) AddUser(name, token string, orgs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[token] = &user{name: name, orgs: orgs}
}

// RepoOptions describe a repo made by CreateRepo.
type RepoOptions struct {
	Private     bool
	Gated       bool           // "manual" gating: downloads need a granted user
	CardData    map[string]any // the model card's metadata (license, base_model, ...)
	LibraryName string
	PipelineTag string
	Tags        []string
}

// Repo is a model repo of the fake Hub.
type Repo struct {
	s        *Server
	ID       string
	opts     RepoOptions
	granted  map[string]bool
	commits  map[string]*commit
	branches map[string]string
	tags     map[string]string
	lfsOIDs  map[string]bool // LFS objects uploaded to this repo
	created  time.Time
	mongoID  string
}

type commit struct {
	sha, parent, title, desc string
	date                     time.Time
	files                    map[string]*entry
}

// entry is a file in a commit.
type entry struct {
	oid  string // git blob sha1 (of the pointer, for LFS)
	size int64
	data []byte // regular files
	lfs  string // sha256, for LFS files
}

func (e *entry) pointer() []byte {
	return []byte(fmt.Sprintf("version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n", e.lfs, e.size))
}

// CreateRepo makes a repo with an initial commit holding .gitattributes, as the Hub does.
func (s *Server) CreateRepo(id string, o RepoOptions) *Repo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createRepoLocked(id, o)
}

func (s *Server) createRepoLocked(id string, o RepoOptions) *Repo {
	r := &Repo{s: s, ID: id, opts: o, granted: map[string]bool{}, commits: map[string]*commit{},
		branches: map[string]string{}, tags: map[string]string{}, lfsOIDs: map[string]bool{},
		created: time.Now().UTC(), mongoID: randHex(12)}
	s.repos[strings.ToLower(id)] = r
	r.commitLocked("main", "initial commit", "", map[string][]byte{".gitattributes": []byte(defaultGitattributes)}, nil)
	return r
}

// Repo returns the repo with that id, or nil.
func (s *Server) Repo(id string) *Repo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.repos[strings.ToLower(id)]
}

// Grant gives a user access to a gated repo.
func (r *Repo) Grant(userName string) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	r.granted[userName] = true
}

// Commit adds a commit on branch (created from main's head if new) that writes files, and
// returns its sha. Large, binary, or .gitattributes-matched files are stored as LFS.
func (r *Repo) Commit(branch, title string, files map[string][]byte) string {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	return r.commitLocked(branch, title, "", files, nil)
}

// DeleteFiles adds a commit on branch that removes paths.
func (r *Repo) DeleteFiles(branch, title string, paths ...string) string {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	return r.commitLocked(branch, title, "", nil, paths)
}

// commitLocked adds a commit on branch: files are written (as LFS when the rule says so),
// lfs entries are pointers to uploaded objects, deleted paths (or folders) are removed.
func (r *Repo) commitLocked(branch, title, desc string, files map[string][]byte, deleted []string, lfs ...map[string]*entry) string {
	parent := r.branches[branch]
	if parent == "" {
		parent = r.branches["main"]
	}
	c := &commit{parent: parent, title: title, desc: desc, date: time.Now().UTC(), files: map[string]*entry{}}
	if p := r.commits[parent]; p != nil {
		for k, v := range p.files {
			c.files[k] = v
		}
	}
	for _, d := range deleted {
		delete(c.files, d)
		for k := range c.files {
			if strings.HasPrefix(k, d+"/") {
				delete(c.files, k)
			}
		}
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		data := files[p]
		if r.s.isLFS(p, int64(len(data)), data) {
			sum := sha256.Sum256(data)
			oid := hex.EncodeToString(sum[:])
			r.s.lfs[oid] = bytes.Clone(data)
			r.lfsOIDs[oid] = true
			e := &entry{size: int64(len(data)), lfs: oid}
			e.oid = gitOID(e.pointer())
			c.files[p] = e
		} else {
			c.files[p] = &entry{oid: gitOID(data), size: int64(len(data)), data: bytes.Clone(data)}
		}
	}
	for _, m := range lfs {
		for p, e := range m {
			c.files[p] = e
		}
	}
	r.s.counter++
	h := sha1.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%d\x00%d", r.ID, parent, title, r.s.counter, c.date.UnixNano())
	for _, p := range sortedKeys(c.files) {
		fmt.Fprintf(h, "\x00%s\x00%s", p, c.files[p].oid)
	}
	c.sha = hex.EncodeToString(h.Sum(nil))
	r.commits[c.sha] = c
	r.branches[branch] = c.sha
	return c.sha
}

// Tag points a tag at a revision.
func (r *Repo) Tag(name, rev string) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	if c := r.resolveLocked(rev); c != nil {
		r.tags[name] = c.sha
	}
}

// Head returns the commit a branch points to ("" if none).
func (r *Repo) Head(branch string) string {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	return r.branches[branch]
}

// Files returns the contents of every file at rev (nil if rev is unknown).
func (r *Repo) Files(rev string) map[string][]byte {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	c := r.resolveLocked(rev)
	if c == nil {
		return nil
	}
	out := map[string][]byte{}
	for p, e := range c.files {
		out[p] = r.s.contentLocked(e)
	}
	return out
}

// IsLFS reports whether path at rev is stored as LFS.
func (r *Repo) IsLFS(rev, p string) bool {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	c := r.resolveLocked(rev)
	return c != nil && c.files[p] != nil && c.files[p].lfs != ""
}

// CommitInfo describes a commit, for assertions.
type CommitInfo struct {
	SHA, Parent, Title string
	Files              []string
}

// Commits lists the commits reachable from branch, newest first.
func (r *Repo) Commits(branch string) []CommitInfo {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	var out []CommitInfo
	for sha := r.branches[branch]; sha != ""; {
		c := r.commits[sha]
		if c == nil {
			break
		}
		out = append(out, CommitInfo{SHA: c.sha, Parent: c.parent, Title: c.title, Files: sortedKeys(c.files)})
		sha = c.parent
	}
	return out
}

// resolveLocked maps a branch, tag, full commit sha or "HEAD" to a commit.
func (r *Repo) resolveLocked(rev string) *commit {
	if rev == "HEAD" {
		rev = "main"
	}
	if sha, ok := r.branches[rev]; ok {
		return r.commits[sha]
	}
	if sha, ok := r.tags[rev]; ok {
		return r.commits[sha]
	}
	return r.commits[rev]
}

func (s *Server) contentLocked(e *entry) []byte {
	if e.lfs != "" {
		return s.lfs[e.lfs]
	}
	return e.data
}

// defaultGitattributes is what the Hub commits in a new model repo (plus *.gguf).
const defaultGitattributes = `*.7z filter=lfs diff=lfs merge=lfs -text
*.arrow filter=lfs diff=lfs merge=lfs -text
*.bin filter=lfs diff=lfs merge=lfs -text
*.bz2 filter=lfs diff=lfs merge=lfs -text
*.ckpt filter=lfs diff=lfs merge=lfs -text
*.gguf filter=lfs diff=lfs merge=lfs -text
*.gz filter=lfs diff=lfs merge=lfs -text
*.h5 filter=lfs diff=lfs merge=lfs -text
*.model filter=lfs diff=lfs merge=lfs -text
*.msgpack filter=lfs diff=lfs merge=lfs -text
*.npy filter=lfs diff=lfs merge=lfs -text
*.onnx filter=lfs diff=lfs merge=lfs -text
*.pt filter=lfs diff=lfs merge=lfs -text
*.pth filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text
*.tar filter=lfs diff=lfs merge=lfs -text
*.zip filter=lfs diff=lfs merge=lfs -text
*.zst filter=lfs diff=lfs merge=lfs -text
`

var lfsExts = func() map[string]bool {
	m := map[string]bool{}
	for _, line := range strings.Split(defaultGitattributes, "\n") {
		if pat, _, ok := strings.Cut(line, " "); ok {
			m[strings.TrimPrefix(pat, "*")] = true
		}
	}
	return m
}()

// isLFS is the preupload rule: .gitattributes extensions, large files, binary samples.
func (s *Server) isLFS(p string, size int64, sample []byte) bool {
	if size == 0 {
		return false
	}
	if lfsExts[path.Ext(p)] || size >= s.LFSThreshold {
		return true
	}
	return bytes.IndexByte(sample[:min(len(sample), 512)], 0) >= 0
}

// gitOID is git's blob id: sha1("blob <size>\0" + data).
func gitOID(data []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(data))
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// sign makes a URL signature valid for an hour, like a presigned S3 URL.
func (s *Server) sign(method, p string) string {
	exp := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	m := hmac.New(sha256.New, s.secret)
	fmt.Fprintf(m, "%s\n%s\n%s", method, p, exp)
	return "X-Amz-Expires=" + exp + "&X-Amz-Signature=" + hex.EncodeToString(m.Sum(nil))
}

func (s *Server) checkSig(r *http.Request, method string) bool {
	q := r.URL.Query()
	exp, sig := q.Get("X-Amz-Expires"), q.Get("X-Amz-Signature")
	n, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || time.Now().Unix() > n {
		return false
	}
	m := hmac.New(sha256.New, s.secret)
	fmt.Fprintf(m, "%s\n%s\n%s", method, r.URL.Path, exp)
	want := hex.EncodeToString(m.Sum(nil))
	return hmac.Equal([]byte(want), []byte(sig))
}

// Requests returns the requests answered so far.
func (s *Server) Requests() []Request {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return append([]Request(nil), s.log...)
}

// Count counts answered requests with this method (any if "") whose path contains substr.
func (s *Server) Count(method, substr string) int {
	n := 0
	for _, r := range s.Requests() {
		if (method == "" || r.Method == method) && strings.Contains(r.Path, substr) {
			n++
		}
	}
	return n
}

// ResetLog forgets the requests answered so far.
func (s *Server) ResetLog() {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	s.logGen++
	s.log = nil
}
