package hubtest

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"
	"time"
)

// who authenticates the request: (nil, true) anonymous, (u, true) a user, (nil, false) a
// token the Hub does not know (the answer has been written).
func (s *Server) who(w http.ResponseWriter, r *http.Request) (*user, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, true
	}
	tok, ok := strings.CutPrefix(h, "Bearer ")
	s.mu.Lock()
	u := s.users[tok]
	s.mu.Unlock()
	if !ok || u == nil {
		hubError(w, http.StatusUnauthorized, "", "Invalid credentials in Authorization header")
		return nil, false
	}
	return u, true
}

func (u *user) owns(repoID string) bool {
	if u == nil {
		return false
	}
	ns, _, _ := strings.Cut(repoID, "/")
	if strings.EqualFold(ns, u.name) {
		return true
	}
	for _, o := range u.orgs {
		if strings.EqualFold(ns, o) {
			return true
		}
	}
	return false
}

// repoFor finds a repo the user may read, or answers as the Hub does (401 anonymous, 404
// authenticated: private repos are indistinguishable from missing ones).
func (s *Server) repoFor(w http.ResponseWriter, id string, u *user) *Repo {
	s.mu.Lock()
	r := s.repos[strings.ToLower(id)]
	s.mu.Unlock()
	if r == nil || (r.opts.Private && !u.owns(r.ID)) {
		if u == nil {
			hubError(w, http.StatusUnauthorized, "RepoNotFound", "Repository not found")
		} else {
			hubError(w, http.StatusNotFound, "RepoNotFound", "Repository not found")
		}
		return nil
	}
	return r
}

// gateOK answers for a gated repo's files: 401 anonymous, 403 not on the list.
func (s *Server) gateOK(w http.ResponseWriter, r *Repo, u *user) bool {
	if !r.opts.Gated || u.owns(r.ID) {
		return true
	}
	s.mu.Lock()
	granted := u != nil && r.granted[u.name]
	s.mu.Unlock()
	if granted {
		return true
	}
	if u == nil {
		hubError(w, http.StatusUnauthorized, "GatedRepo", fmt.Sprintf("Access to model %s is restricted. You must have access to it and be authenticated to access it. Please log in.", r.ID))
	} else {
		hubError(w, http.StatusForbidden, "GatedRepo", fmt.Sprintf("Access to model %s is restricted and you are not in the authorized list. Visit %s/%s to ask for access.", r.ID, s.URL, r.ID))
	}
	return false
}

// commitFor resolves rev or answers RevisionNotFound.
func (s *Server) commitFor(w http.ResponseWriter, r *Repo, rev string) *commit {
	s.mu.Lock()
	c := r.resolveLocked(rev)
	s.mu.Unlock()
	if c == nil {
		hubError(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
	}
	return c
}

func (s *Server) serveHub(w http.ResponseWriter, r *http.Request) {
	seg := splitPath(r.URL.EscapedPath())
	u, ok := s.who(w, r)
	if !ok {
		return
	}
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	post := r.Method == http.MethodPost
	switch {
	case post && len(seg) == 3 && seg[0] == "api" && seg[1] == "repos" && seg[2] == "create":
		s.createRepo(w, r, u)
	case get && len(seg) == 2 && seg[0] == "api" && seg[1] == "whoami-v2":
		s.whoami(w, u)
	case len(seg) >= 4 && seg[0] == "api" && seg[1] == "models":
		id := seg[2] + "/" + seg[3]
		rest := seg[4:]
		switch {
		case get && len(rest) == 0:
			s.modelInfo(w, r, u, id, "main")
		case get && len(rest) >= 2 && rest[0] == "revision":
			s.modelInfo(w, r, u, id, strings.Join(rest[1:], "/"))
		case get && len(rest) >= 2 && rest[0] == "tree":
			s.tree(w, r, u, id, rest[1], strings.Join(rest[2:], "/"))
		case post && len(rest) >= 2 && rest[0] == "paths-info":
			s.pathsInfo(w, r, u, id, strings.Join(rest[1:], "/"))
		case post && len(rest) >= 2 && rest[0] == "preupload":
			s.preupload(w, r, u, id, strings.Join(rest[1:], "/"))
		case post && len(rest) >= 2 && rest[0] == "commit":
			s.commitAPI(w, r, u, id, strings.Join(rest[1:], "/"))
		case post && len(rest) >= 2 && rest[0] == "branch":
			s.createBranch(w, r, u, id, strings.Join(rest[1:], "/"))
		default:
			hubError(w, http.StatusNotFound, "", "Not Found")
		}
	case get && len(seg) >= 6 && seg[0] == "api" && seg[1] == "resolve-cache" && seg[2] == "models":
		s.resolveCache(w, r, u, seg[3]+"/"+seg[4], seg[5], strings.Join(seg[6:], "/"))
	case len(seg) >= 6 && strings.HasSuffix(seg[1], ".git") && seg[2] == "info" && seg[3] == "lfs":
		id := seg[0] + "/" + strings.TrimSuffix(seg[1], ".git")
		switch {
		case post && len(seg) == 6 && seg[4] == "objects" && seg[5] == "batch":
			s.lfsBatch(w, r, u, id)
		case post && len(seg) == 6 && seg[4] == "objects" && seg[5] == "verify":
			s.lfsVerify(w, r, u, id)
		case post && len(seg) == 6 && seg[4] == "complete":
			s.lfsComplete(w, r, id, seg[5])
		default:
			hubError(w, http.StatusNotFound, "", "Not Found")
		}
	case get && len(seg) >= 5 && seg[2] == "resolve":
		s.resolve(w, r, u, seg[0]+"/"+seg[1], seg[3], strings.Join(seg[4:], "/"))
	default:
		hubError(w, http.StatusNotFound, "", "Not Found")
	}
}

func (s *Server) whoami(w http.ResponseWriter, u *user) {
	if u == nil {
		hubError(w, http.StatusUnauthorized, "", "Invalid credentials in Authorization header")
		return
	}
	orgs := []map[string]any{}
	for _, o := range u.orgs {
		orgs = append(orgs, map[string]any{"type": "org", "name": o})
	}
	writeJSON(w, 200, map[string]any{"type": "user", "name": u.name, "orgs": orgs,
		"auth": map[string]any{"type": "access_token", "accessToken": map[string]any{"role": "write"}}})
}

func (s *Server) modelInfo(w http.ResponseWriter, r *http.Request, u *user, id, rev string) {
	if f := s.fault(StageAPI, id, ""); f != nil && f.Status != 0 {
		hubError(w, f.Status, "", http.StatusText(f.Status))
		return
	}
	repo := s.repoFor(w, id, u)
	if repo == nil {
		return
	}
	c := s.commitFor(w, repo, rev)
	if c == nil {
		return
	}
	blobs := r.URL.Query().Get("blobs") == "true" || r.URL.Query().Get("blobs") == "True"
	var siblings []map[string]any
	s.mu.Lock()
	var used int64
	for _, p := range sortedKeys(c.files) {
		e := c.files[p]
		sib := map[string]any{"rfilename": p}
		if blobs {
			sib["blobId"] = e.oid
			sib["size"] = e.size
			if e.lfs != "" {
				sib["lfs"] = map[string]any{"sha256": e.lfs, "size": e.size, "pointerSize": len(e.pointer())}
			}
		}
		used += e.size
		siblings = append(siblings, sib)
	}
	var gated any = false
	if repo.opts.Gated {
		gated = "manual"
	}
	ns, _, _ := strings.Cut(repo.ID, "/")
	info := map[string]any{
		"_id": repo.mongoID, "id": repo.ID, "modelId": repo.ID, "author": ns, "sha": c.sha,
		"lastModified": c.date.Format("2006-01-02T15:04:05.000Z"), "createdAt": repo.created.Format("2006-01-02T15:04:05.000Z"),
		"private": repo.opts.Private, "gated": gated, "disabled": false, "downloads": 0, "likes": 0,
		"tags": append([]string{}, repo.opts.Tags...), "siblings": siblings, "spaces": []string{}, "usedStorage": used,
	}
	if repo.opts.LibraryName != "" {
		info["library_name"] = repo.opts.LibraryName
	}
	if repo.opts.PipelineTag != "" {
		info["pipeline_tag"] = repo.opts.PipelineTag
	}
	if repo.opts.CardData != nil {
		info["cardData"] = repo.opts.CardData
	}
	s.mu.Unlock()
	writeJSON(w, 200, info)
}

// treeEntry is the JSON of /tree and /paths-info entries.
func (s *Server) treeEntry(p string, e *entry, c *commit, expand bool) map[string]any {
	if e == nil {
		m := map[string]any{"type": "directory", "oid": gitOID([]byte(p)), "size": 0, "path": p}
		if expand {
			m["lastCommit"] = map[string]any{"id": c.sha, "title": c.title, "date": c.date.Format(time.RFC3339)}
		}
		return m
	}
	m := map[string]any{"type": "file", "oid": e.oid, "size": e.size, "path": p}
	if e.lfs != "" {
		m["lfs"] = map[string]any{"oid": e.lfs, "size": e.size, "pointerSize": len(e.pointer())}
	}
	if expand {
		m["lastCommit"] = map[string]any{"id": c.sha, "title": c.title, "date": c.date.Format(time.RFC3339)}
		m["securityFileStatus"] = map[string]any{"status": "safe"}
	}
	return m
}

// dirsOf lists the folders that hold the files of c.
func dirsOf(c *commit) map[string]bool {
	dirs := map[string]bool{}
	for p := range c.files {
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	return dirs
}

func (s *Server) tree(w http.ResponseWriter, r *http.Request, u *user, id, rev, sub string) {
	repo := s.repoFor(w, id, u)
	if repo == nil {
		return
	}
	c := s.commitFor(w, repo, rev)
	if c == nil {
		return
	}
	q := r.URL.Query()
	recursive := q.Get("recursive") == "true" || q.Get("recursive") == "1" || q.Get("recursive") == "True"
	expand := q.Get("expand") == "true" || q.Get("expand") == "1" || q.Get("expand") == "True"
	s.mu.Lock()
	dirs := dirsOf(c)
	if sub != "" && !dirs[sub] {
		s.mu.Unlock()
		hubError(w, http.StatusNotFound, "EntryNotFound", fmt.Sprintf("%s does not exist on %q", sub, rev))
		return
	}
	under := func(p string) bool {
		if sub != "" && !strings.HasPrefix(p, sub+"/") {
			return false
		}
		rel := strings.TrimPrefix(p, sub+"/")
		if sub == "" {
			rel = p
		}
		return recursive || !strings.Contains(rel, "/")
	}
	all := map[string]*entry{}
	for p, e := range c.files {
		if under(p) {
			all[p] = e
		}
	}
	for d := range dirs {
		if under(d) {
			all[d] = nil
		}
	}
	out := []map[string]any{}
	for _, p := range sortedKeys(all) {
		out = append(out, s.treeEntry(p, all[p], c, expand))
	}
	s.mu.Unlock()
	writeJSON(w, 200, out)
}

func (s *Server) pathsInfo(w http.ResponseWriter, r *http.Request, u *user, id, rev string) {
	repo := s.repoFor(w, id, u)
	if repo == nil {
		return
	}
	c := s.commitFor(w, repo, rev)
	if c == nil {
		return
	}
	var paths []string
	expand := false
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var body struct {
			Paths  []string `json:"paths"`
			Expand bool     `json:"expand"`
		}
		if err := decodeJSON(r, &body); err != nil {
			hubError(w, 400, "", err.Error())
			return
		}
		paths, expand = body.Paths, body.Expand
	} else {
		if err := r.ParseForm(); err != nil {
			hubError(w, 400, "", err.Error())
			return
		}
		paths = r.PostForm["paths"]
		expand = r.PostForm.Get("expand") == "true" || r.PostForm.Get("expand") == "True"
	}
	s.mu.Lock()
	dirs := dirsOf(c)
	out := []map[string]any{}
	for _, p := range paths {
		p = strings.Trim(p, "/")
		if e := c.files[p]; e != nil {
			out = append(out, s.treeEntry(p, e, c, expand))
		} else if dirs[p] {
			out = append(out, s.treeEntry(p, nil, c, expand))
		}
	}
	s.mu.Unlock()
	writeJSON(w, 200, out)
}

// resolve answers /{repo}/resolve/{rev}/{path}: a relative 307 to /api/resolve-cache/ for a
// regular file, a 302 to the CDN for an LFS file, with X-Repo-Commit, ETag and X-Linked-*.
func (s *Server) resolve(w http.ResponseWriter, r *http.Request, u *user, id, rev, p string) {
	if f := s.fault(StageResolve, id, p); f != nil && f.Status != 0 {
		hubError(w, f.Status, "", http.StatusText(f.Status))
		return
	}
	repo := s.repoFor(w, id, u)
	if repo == nil || !s.gateOK(w, repo, u) {
		return
	}
	c := s.commitFor(w, repo, rev)
	if c == nil {
		return
	}
	s.mu.Lock()
	e := c.files[p]
	s.mu.Unlock()
	w.Header().Set("X-Repo-Commit", c.sha)
	if e == nil {
		hubError(w, http.StatusNotFound, "EntryNotFound", fmt.Sprintf("%s does not exist on %q", p, rev))
		return
	}
	w.Header().Set("Access-Control-Expose-Headers", "X-Repo-Commit,X-Request-Id,X-Error-Code,X-Error-Message,X-Total-Count,ETag,Link,Accept-Ranges,Content-Range,X-Linked-Size,X-Linked-ETag,X-Xet-Hash")
	if e.lfs == "" {
		q := url.Values{}
		q.Set("/"+repo.ID+"/resolve/"+rev+"/"+p, "")
		q.Set("etag", `"`+e.oid+`"`)
		loc := "/api/resolve-cache/models/" + repo.ID + "/" + c.sha + "/" + escapePath(p) + "?" + q.Encode()
		w.Header().Set("ETag", `"`+e.oid+`"`)
		w.Header().Set("Location", loc)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusTemporaryRedirect)
		if r.Method != http.MethodHead {
			fmt.Fprintf(w, "Temporary Redirect. Redirecting to %s", loc)
		}
		return
	}
	cdnPath := "/repos/" + e.lfs[:2] + "/" + e.lfs[2:4] + "/" + e.lfs
	loc := s.CDNURL + cdnPath + "?" + s.sign(http.MethodGet, cdnPath) +
		"&response-content-disposition=" + url.QueryEscape(`inline; filename="`+path.Base(p)+`";`)
	w.Header().Set("ETag", `"`+e.oid+`"`)
	w.Header().Set("X-Linked-Etag", `"`+e.lfs+`"`)
	w.Header().Set("X-Linked-Size", fmt.Sprint(e.size))
	w.Header().Set("Location", loc)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusFound)
	if r.Method != http.MethodHead {
		fmt.Fprintf(w, "Found. Redirecting to %s", loc)
	}
}

// resolveCache serves a regular file's bytes (the target of resolve's relative redirect).
func (s *Server) resolveCache(w http.ResponseWriter, r *http.Request, u *user, id, sha, p string) {
	repo := s.repoFor(w, id, u)
	if repo == nil || !s.gateOK(w, repo, u) {
		return
	}
	s.mu.Lock()
	c := repo.commits[sha]
	var e *entry
	if c != nil {
		e = c.files[p]
	}
	s.mu.Unlock()
	if c == nil {
		hubError(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+sha)
		return
	}
	if e == nil || e.lfs != "" {
		hubError(w, http.StatusNotFound, "EntryNotFound", fmt.Sprintf("%s does not exist on %q", p, sha))
		return
	}
	w.Header().Set("X-Repo-Commit", sha)
	w.Header().Set("Content-Disposition", fmt.Sprintf(`inline; filename*=UTF-8''%s; filename="%s";`, url.PathEscape(path.Base(p)), path.Base(p)))
	if strings.HasSuffix(p, ".json") {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	serveBytes(w, r, e.data, e.oid, s.fault(StageContent, id, p))
}

// serveCDN is the LFS storage: presigned GETs of objects, presigned PUTs of uploads. Like S3,
// it refuses a request that carries both a signature and an Authorization header.
func (s *Server) serveCDN(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "" {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified</Message></Error>`)
		return
	}
	seg := splitPath(r.URL.EscapedPath())
	switch {
	case (r.Method == http.MethodGet || r.Method == http.MethodHead) && len(seg) == 4 && seg[0] == "repos":
		if !s.checkSig(r, r.Method) { // like S3: a URL signed for GET does not serve HEAD
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<Error><Code>AccessDenied</Code><Message>Request has expired or signature does not match</Message></Error>`)
			return
		}
		oid := seg[3]
		s.mu.Lock()
		data, ok := s.lfs[oid]
		repoID, filePath := s.whoHasLocked(oid)
		s.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if d := r.URL.Query().Get("response-content-disposition"); d != "" {
			w.Header().Set("Content-Disposition", d)
		}
		serveBytes(w, r, data, oid, s.fault(StageContent, repoID, filePath))
	case r.Method == http.MethodPut && len(seg) >= 3 && seg[0] == "upload":
		s.cdnPut(w, r, seg)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// whoHasLocked finds a repo and path holding an LFS object, to match faults by path.
func (s *Server) whoHasLocked(oid string) (string, string) {
	ids := sortedKeys(s.repos)
	for _, k := range ids {
		r := s.repos[k]
		shas := sortedKeys(r.commits)
		sort.Strings(shas)
		for _, sha := range shas {
			for p, e := range r.commits[sha].files {
				if e.lfs == oid {
					return r.ID, p
				}
			}
		}
	}
	return "", ""
}

// escapePath escapes each segment of a file path.
func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}
