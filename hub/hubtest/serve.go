package hubtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Stage is where a Fault strikes.
type Stage int

const (
	// StageResolve: the /{repo}/resolve/{rev}/{path} answer (before any redirect).
	StageResolve Stage = iota
	// StageContent: the bytes of a file (/api/resolve-cache/... or the CDN).
	StageContent
	// StageAPI: the revision API (/api/models/{repo}/revision/{rev}).
	StageAPI
	// StageUpload: an LFS upload to the CDN (single PUT or a part).
	StageUpload
	// StageCommit: the commit API.
	StageCommit
	// StagePreupload: the preupload API.
	StagePreupload
)

// Fault is an injected failure. Zero fields do not apply.
type Fault struct {
	Stage Stage
	Repo  string // repo id it applies to ("" any)
	Path  string // repo file path it applies to ("" any)

	Status      int           // answer with this status instead
	Drop        bool          // send DropAfter bytes of the body, then cut the connection
	DropAfter   int64         //
	Corrupt     bool          // flip one byte of the body
	IgnoreRange bool          // answer 200 with the whole file to a Range request
	Stall       time.Duration // send DropAfter bytes, then nothing for this long, then the rest

	Times int // requests it affects; 0 means every one

	used int
}

// AddFault injects a fault.
func (s *Server) AddFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// ClearFaults removes all faults.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// fault returns the first live fault for this stage, repo and path, using one of its Times.
func (s *Server) fault(st Stage, repo, p string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.faults {
		if f.Stage != st || (f.Repo != "" && !strings.EqualFold(f.Repo, repo)) || (f.Path != "" && f.Path != p) {
			continue
		}
		if f.Times > 0 && f.used >= f.Times {
			continue
		}
		f.used++
		c := *f
		return &c
	}
	return nil
}

// recorder captures the status for the request log and passes Hijack/Flush through.
type recorder struct {
	http.ResponseWriter
	status   int
	onStatus func(int)
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
		r.onStatus(code)
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.WriteHeader(200)
	}
	return r.ResponseWriter.Write(p)
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return r.ResponseWriter.(http.Hijacker).Hijack()
}

func (s *Server) logged(host string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Logged before answering, so a client that got its answer finds it in the log.
		s.logMu.Lock()
		i := len(s.log)
		s.log = append(s.log, Request{Host: host, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
			Range: r.Header.Get("Range"), Auth: r.Header.Get("Authorization") != ""})
		gen := s.logGen
		s.logMu.Unlock()
		rec := &recorder{ResponseWriter: w, onStatus: func(code int) {
			s.logMu.Lock()
			if gen == s.logGen && i < len(s.log) {
				s.log[i].Status = code
			}
			s.logMu.Unlock()
		}}
		w.Header().Set("X-Request-Id", "Root="+randHex(8))
		h.ServeHTTP(rec, r)
	})
}

// hubError answers like the Hub: JSON {"error": msg}, X-Error-Code and X-Error-Message.
func hubError(w http.ResponseWriter, status int, code, msg string) {
	if code != "" {
		w.Header().Set("X-Error-Code", code)
	}
	w.Header().Set("X-Error-Message", msg)
	writeJSON(w, status, map[string]any{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// serveBytes answers GET/HEAD for data with Range support, applying content faults.
func serveBytes(w http.ResponseWriter, r *http.Request, data []byte, etag string, f *Fault) {
	h := w.Header()
	h.Set("Accept-Ranges", "bytes")
	if etag != "" {
		h.Set("ETag", `"`+etag+`"`)
	}
	if f != nil && f.Status != 0 {
		hubError(w, f.Status, "", http.StatusText(f.Status))
		return
	}
	size := int64(len(data))
	start, end := int64(0), size-1
	status := http.StatusOK
	if rg := r.Header.Get("Range"); rg != "" && (f == nil || !f.IgnoreRange) {
		a, b, ok := parseRange(rg, size)
		if !ok {
			h.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
			hubError(w, http.StatusRequestedRangeNotSatisfiable, "", "Requested Range Not Satisfiable")
			return
		}
		start, end, status = a, b, http.StatusPartialContent
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", a, b, size))
	}
	body := data[start : end+1]
	if f != nil && f.Corrupt && len(body) > 0 {
		body = append([]byte(nil), body...)
		body[len(body)/2] ^= 0x55
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/octet-stream")
	}
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	if f != nil && f.Stall > 0 {
		// Send DropAfter bytes, go quiet for Stall, then send the rest.
		n := min(max(f.DropAfter, 0), int64(len(body)))
		w.Write(body[:n])
		w.(http.Flusher).Flush()
		select {
		case <-time.After(f.Stall):
		case <-r.Context().Done():
			return
		}
		w.Write(body[n:])
		return
	}
	if f != nil && f.Drop {
		n := min(max(f.DropAfter, 0), int64(len(body)))
		w.Write(body[:n])
		w.(http.Flusher).Flush()
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
			}
		}
		return
	}
	w.Write(body)
}

// parseRange parses a single "bytes=a-b", "bytes=a-" or "bytes=-n" range.
func parseRange(h string, size int64) (int64, int64, bool) {
	spec, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return 0, 0, false
	}
	as, bs, ok := strings.Cut(spec, "-")
	if !ok {
		return 0, 0, false
	}
	if as == "" {
		n, err := strconv.ParseInt(bs, 10, 64)
		if err != nil || n <= 0 {
			return 0, 0, false
		}
		return max(size-n, 0), size - 1, size > 0
	}
	a, err := strconv.ParseInt(as, 10, 64)
	if err != nil || a < 0 || a >= size {
		return 0, 0, false
	}
	b := size - 1
	if bs != "" {
		if b, err = strconv.ParseInt(bs, 10, 64); err != nil || b < a {
			return 0, 0, false
		}
		b = min(b, size-1)
	}
	return a, b, true
}

// splitPath splits an escaped URL path into unescaped segments.
func splitPath(escaped string) []string {
	parts := strings.Split(strings.Trim(escaped, "/"), "/")
	for i, p := range parts {
		if u, err := url.PathUnescape(p); err == nil {
			parts[i] = u
		}
	}
	return parts
}
