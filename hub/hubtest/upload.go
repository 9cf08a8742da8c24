package hubtest

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

const maxBody = 64 << 20

func decodeJSON(r *http.Request, v any) error {
	return json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(v)
}

// writable finds a repo the user may write, or answers 401/403/404.
func (s *Server) writable(w http.ResponseWriter, id string, u *user) *Repo {
	if u == nil {
		hubError(w, http.StatusUnauthorized, "", "You must be authenticated to access this resource")
		return nil
	}
	repo := s.repoFor(w, id, u)
	if repo == nil {
		return nil
	}
	if !u.owns(repo.ID) {
		hubError(w, http.StatusForbidden, "", fmt.Sprintf("You don't have the rights to write to %s", repo.ID))
		return nil
	}
	return repo
}

func (s *Server) createRepo(w http.ResponseWriter, r *http.Request, u *user) {
	if u == nil {
		hubError(w, http.StatusUnauthorized, "", "You must be authenticated to access this resource")
		return
	}
	var body struct {
		Name         string `json:"name"`
		Organization string `json:"organization"`
		Type         string `json:"type"`
		Private      *bool  `json:"private"`
		Visibility   string `json:"visibility"`
	}
	if err := decodeJSON(r, &body); err != nil || body.Name == "" {
		hubError(w, http.StatusBadRequest, "", "Invalid request body")
		return
	}
	if body.Type != "" && body.Type != "model" {
		hubError(w, http.StatusBadRequest, "", "only model repos are supported by the fake Hub")
		return
	}
	ns := body.Organization
	if ns == "" {
		ns = u.name
	}
	id := ns + "/" + body.Name
	if !u.owns(id) {
		hubError(w, http.StatusForbidden, "", fmt.Sprintf("You don't have the rights to create a model under the namespace %q", ns))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if existing := s.repos[strings.ToLower(id)]; existing != nil {
		w.Header().Set("X-Error-Message", "You already created this model repo")
		writeJSON(w, http.StatusConflict, map[string]any{"error": "You already created this model repo", "url": s.URL + "/" + existing.ID})
		return
	}
	private := body.Visibility == "private" || (body.Private != nil && *body.Private)
	repo := s.createRepoLocked(id, RepoOptions{Private: private})
	writeJSON(w, 200, map[string]any{"url": s.URL + "/" + repo.ID, "name": repo.ID, "id": repo.mongoID})
}

func (s *Server) createBranch(w http.ResponseWriter, r *http.Request, u *user, id, branch string) {
	repo := s.writable(w, id, u)
	if repo == nil {
		return
	}
	var body struct {
		StartingPoint string `json:"startingPoint"`
	}
	if r.ContentLength != 0 {
		decodeJSON(r, &body)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := repo.branches[branch]; ok {
		hubError(w, http.StatusConflict, "", "Reference already exists")
		return
	}
	from := body.StartingPoint
	if from == "" {
		from = "main"
	}
	c := repo.resolveLocked(from)
	if c == nil {
		hubError(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+from)
		return
	}
	repo.branches[branch] = c.sha
	writeJSON(w, 200, map[string]any{})
}

func (s *Server) preupload(w http.ResponseWriter, r *http.Request, u *user, id, rev string) {
	if f := s.fault(StagePreupload, id, ""); f != nil && f.Status != 0 {
		hubError(w, f.Status, "", http.StatusText(f.Status))
		return
	}
	repo := s.writable(w, id, u)
	if repo == nil {
		return
	}
	c := s.commitFor(w, repo, rev)
	if c == nil {
		return
	}
	var body struct {
		Files []struct {
			Path   string `json:"path"`
			Sample string `json:"sample"`
			Size   int64  `json:"size"`
		} `json:"files"`
	}
	if err := decodeJSON(r, &body); err != nil {
		hubError(w, http.StatusBadRequest, "", "Invalid request body")
		return
	}
	s.mu.Lock()
	out := []map[string]any{}
	for _, f := range body.Files {
		sample, err := base64.StdEncoding.DecodeString(f.Sample)
		if err != nil {
			s.mu.Unlock()
			hubError(w, http.StatusBadRequest, "", "sample is not base64")
			return
		}
		mode := "regular"
		if s.isLFS(f.Path, f.Size, sample) {
			mode = "lfs"
		}
		m := map[string]any{"path": f.Path, "uploadMode": mode, "shouldIgnore": false}
		if e := c.files[f.Path]; e != nil {
			if e.lfs != "" {
				m["oid"] = e.lfs
			} else {
				m["oid"] = e.oid
			}
		}
		out = append(out, m)
	}
	s.mu.Unlock()
	writeJSON(w, 200, map[string]any{"files": out, "commitOid": c.sha})
}

type lfsAction struct {
	Href      string            `json:"href"`
	Header    map[string]string `json:"header,omitempty"`
	ExpiresIn int               `json:"expires_in,omitempty"`
}

func (s *Server) lfsBatch(w http.ResponseWriter, r *http.Request, u *user, id string) {
	repo := s.writable(w, id, u)
	if repo == nil {
		return
	}
	var body struct {
		Operation string   `json:"operation"`
		Transfers []string `json:"transfers"`
		HashAlgo  string   `json:"hash_algo"`
		Objects   []struct {
			OID  string `json:"oid"`
			Size int64  `json:"size"`
		} `json:"objects"`
	}
	if err := decodeJSON(r, &body); err != nil || body.Operation != "upload" {
		hubError(w, http.StatusBadRequest, "", "Invalid LFS batch request")
		return
	}
	canMultipart := false
	for _, t := range body.Transfers {
		canMultipart = canMultipart || t == "multipart"
	}
	transfer := "basic"
	var objs []map[string]any
	s.mu.Lock()
	for _, o := range body.Objects {
		obj := map[string]any{"oid": o.OID, "size": o.Size, "authenticated": true}
		switch {
		case len(o.OID) != 64 || o.Size < 0:
			obj["error"] = map[string]any{"code": 422, "message": "invalid object"}
		case repo.lfsOIDs[o.OID] && int64(len(s.lfs[o.OID])) == o.Size:
			// Already uploaded: no actions, nothing to send.
		case canMultipart && s.MultipartChunk > 0 && o.Size > s.MultipartChunk:
			transfer = "multipart"
			n := (o.Size + s.MultipartChunk - 1) / s.MultipartChunk
			hdr := map[string]string{"chunk_size": strconv.FormatInt(s.MultipartChunk, 10)}
			for i := int64(1); i <= n; i++ {
				p := fmt.Sprintf("/upload/%s/%s/%d", strings.ReplaceAll(repo.ID, "/", "--"), o.OID, i)
				hdr[strconv.FormatInt(i, 10)] = s.CDNURL + p + "?" + s.sign(http.MethodPut, p)
			}
			cp := "/" + repo.ID + ".git/info/lfs/complete/" + o.OID
			obj["actions"] = map[string]any{
				"upload": lfsAction{Href: s.URL + cp + "?" + s.sign(http.MethodPost, cp), Header: hdr, ExpiresIn: 86400},
				"verify": lfsAction{Href: s.URL + "/" + repo.ID + ".git/info/lfs/objects/verify"},
			}
		default:
			p := fmt.Sprintf("/upload/%s/%s", strings.ReplaceAll(repo.ID, "/", "--"), o.OID)
			obj["actions"] = map[string]any{
				"upload": lfsAction{Href: s.CDNURL + p + "?" + s.sign(http.MethodPut, p), ExpiresIn: 86400},
				"verify": lfsAction{Href: s.URL + "/" + repo.ID + ".git/info/lfs/objects/verify"},
			}
		}
		objs = append(objs, obj)
	}
	s.mu.Unlock()
	b, _ := json.Marshal(map[string]any{"transfer": transfer, "objects": objs})
	w.Header().Set("Content-Type", "application/vnd.git-lfs+json")
	w.Write(b)
}

// cdnPut stores an uploaded object (/upload/{repo}/{oid}) or part (/upload/{repo}/{oid}/{n}).
func (s *Server) cdnPut(w http.ResponseWriter, r *http.Request, seg []string) {
	if !s.checkSig(r, http.MethodPut) {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<Error><Code>SignatureDoesNotMatch</Code></Error>`)
		return
	}
	repoID := strings.Replace(seg[1], "--", "/", 1)
	oid := seg[2]
	if f := s.fault(StageUpload, repoID, ""); f != nil {
		if f.Drop {
			io.CopyN(io.Discard, r.Body, max(f.DropAfter, 0))
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
		}
		if f.Status != 0 {
			w.WriteHeader(f.Status)
			return
		}
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<30))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	sum := md5.Sum(data)
	etag := `"` + hex.EncodeToString(sum[:]) + `"`
	if len(seg) == 4 {
		n, err := strconv.Atoi(seg[3])
		if err != nil || n < 1 {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		if s.parts[oid] == nil {
			s.parts[oid] = map[int][]byte{}
		}
		s.parts[oid][n] = data
		s.mu.Unlock()
		w.Header().Set("ETag", etag)
		w.WriteHeader(200)
		return
	}
	got := sha256.Sum256(data)
	if hex.EncodeToString(got[:]) != oid {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `<Error><Code>BadDigest</Code><Message>The sha256 you specified did not match the calculated checksum.</Message></Error>`)
		return
	}
	s.mu.Lock()
	s.lfs[oid] = data
	if repo := s.repos[strings.ToLower(repoID)]; repo != nil {
		repo.lfsOIDs[oid] = true
	}
	s.mu.Unlock()
	w.Header().Set("ETag", etag)
	w.WriteHeader(200)
}

// lfsComplete assembles a multipart upload; its URL is signed, no token is needed.
func (s *Server) lfsComplete(w http.ResponseWriter, r *http.Request, id, oid string) {
	if !s.checkSig(r, http.MethodPost) {
		hubError(w, http.StatusForbidden, "", "invalid signature")
		return
	}
	var body struct {
		OID   string `json:"oid"`
		Parts []struct {
			PartNumber int    `json:"partNumber"`
			ETag       string `json:"etag"`
		} `json:"parts"`
	}
	if err := decodeJSON(r, &body); err != nil || body.OID != oid || len(body.Parts) == 0 {
		hubError(w, http.StatusBadRequest, "", "Invalid completion request")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	parts := s.parts[oid]
	sort.Slice(body.Parts, func(i, j int) bool { return body.Parts[i].PartNumber < body.Parts[j].PartNumber })
	var buf bytes.Buffer
	for i, p := range body.Parts {
		data, ok := parts[p.PartNumber]
		sum := md5.Sum(data)
		if !ok || p.PartNumber != i+1 || strings.Trim(p.ETag, `"`) != hex.EncodeToString(sum[:]) {
			hubError(w, http.StatusBadRequest, "", fmt.Sprintf("part %d is missing or its etag does not match", p.PartNumber))
			return
		}
		buf.Write(data)
	}
	got := sha256.Sum256(buf.Bytes())
	if hex.EncodeToString(got[:]) != oid {
		hubError(w, http.StatusBadRequest, "", "sha256 of the assembled parts does not match the oid")
		return
	}
	delete(s.parts, oid)
	s.lfs[oid] = buf.Bytes()
	if repo := s.repos[strings.ToLower(id)]; repo != nil {
		repo.lfsOIDs[oid] = true
	}
	writeJSON(w, 200, map[string]any{})
}

func (s *Server) lfsVerify(w http.ResponseWriter, r *http.Request, u *user, id string) {
	repo := s.writable(w, id, u)
	if repo == nil {
		return
	}
	var body struct {
		OID  string `json:"oid"`
		Size int64  `json:"size"`
	}
	if err := decodeJSON(r, &body); err != nil {
		hubError(w, http.StatusBadRequest, "", "Invalid verify request")
		return
	}
	s.mu.Lock()
	ok := repo.lfsOIDs[body.OID] && int64(len(s.lfs[body.OID])) == body.Size
	s.mu.Unlock()
	if !ok {
		hubError(w, http.StatusNotFound, "", "object not found")
		return
	}
	writeJSON(w, 200, map[string]any{"message": "ok"})
}

// commitAPI applies an NDJSON commit: a header line, then file / lfsFile / deletedFile /
// deletedFolder lines.
func (s *Server) commitAPI(w http.ResponseWriter, r *http.Request, u *user, id, rev string) {
	if f := s.fault(StageCommit, id, ""); f != nil && f.Status != 0 {
		hubError(w, f.Status, "", http.StatusText(f.Status))
		return
	}
	repo := s.writable(w, id, u)
	if repo == nil {
		return
	}
	s.mu.Lock()
	_, isBranch := repo.branches[rev]
	s.mu.Unlock()
	if !isBranch {
		hubError(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
		return
	}
	type line struct {
		Key   string          `json:"key"`
		Value json.RawMessage `json:"value"`
	}
	var header struct {
		Summary      string `json:"summary"`
		Description  string `json:"description"`
		ParentCommit string `json:"parentCommit"`
	}
	files := map[string][]byte{}
	var lfsFiles []struct {
		Path string `json:"path"`
		Algo string `json:"algo"`
		OID  string `json:"oid"`
		Size int64  `json:"size"`
	}
	var deleted []string
	sc := bufio.NewScanner(io.LimitReader(r.Body, maxBody))
	sc.Buffer(make([]byte, 1<<20), maxBody)
	first := true
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			hubError(w, http.StatusBadRequest, "", "Invalid NDJSON line: "+err.Error())
			return
		}
		if first != (l.Key == "header") {
			hubError(w, http.StatusBadRequest, "", "The first line must be the header, and only the first")
			return
		}
		first = false
		var err error
		switch l.Key {
		case "header":
			err = json.Unmarshal(l.Value, &header)
		case "file":
			var f struct {
				Path, Content, Encoding string
			}
			if err = json.Unmarshal(l.Value, &f); err == nil {
				switch f.Encoding {
				case "base64":
					files[f.Path], err = base64.StdEncoding.DecodeString(f.Content)
				case "", "utf-8":
					files[f.Path] = []byte(f.Content)
				default:
					err = fmt.Errorf("unknown encoding %q", f.Encoding)
				}
			}
		case "lfsFile":
			var f struct {
				Path string `json:"path"`
				Algo string `json:"algo"`
				OID  string `json:"oid"`
				Size int64  `json:"size"`
			}
			if err = json.Unmarshal(l.Value, &f); err == nil {
				lfsFiles = append(lfsFiles, f)
			}
		case "deletedFile", "deletedFolder":
			var f struct{ Path string }
			if err = json.Unmarshal(l.Value, &f); err == nil {
				deleted = append(deleted, strings.TrimSuffix(f.Path, "/"))
			}
		default:
			err = fmt.Errorf("unknown key %q", l.Key)
		}
		if err != nil {
			hubError(w, http.StatusBadRequest, "", "Invalid NDJSON line: "+err.Error())
			return
		}
	}
	if err := sc.Err(); err != nil || first {
		hubError(w, http.StatusBadRequest, "", "Invalid commit payload")
		return
	}
	if header.Summary == "" {
		hubError(w, http.StatusBadRequest, "", "A commit summary is required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if header.ParentCommit != "" && header.ParentCommit != repo.branches[rev] {
		hubError(w, http.StatusPreconditionFailed, "", "A commit has happened since. Please refresh and try again.")
		return
	}
	for _, f := range lfsFiles {
		data, ok := s.lfs[f.OID]
		if !ok || !repo.lfsOIDs[f.OID] || (f.Algo != "" && f.Algo != "sha256") || int64(len(data)) != f.Size {
			hubError(w, http.StatusUnprocessableEntity, "", fmt.Sprintf("Your push was rejected because an LFS pointer pointed to a file that does not exist. For instance: %s", f.Path))
			return
		}
	}
	pointers := map[string]*entry{}
	for _, f := range lfsFiles {
		e := &entry{size: f.Size, lfs: f.OID}
		e.oid = gitOID(e.pointer())
		pointers[f.Path] = e
	}
	sha := repo.commitLocked(rev, header.Summary, header.Description, files, deleted, pointers)
	writeJSON(w, 200, map[string]any{"success": true, "commitOid": sha,
		"commitUrl": s.URL + "/" + repo.ID + "/commit/" + sha, "hookOutput": ""})
}
