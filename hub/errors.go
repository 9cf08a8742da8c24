package hub

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Sentinel errors callers can branch on with errors.Is.
var (
	// ErrGated: the repo is gated and the token is missing or not on the authorized list.
	ErrGated = errors.New("hub: gated repo")
	// ErrRepoNotFound: no such repo, or a private one the token cannot see.
	ErrRepoNotFound = errors.New("hub: repository not found")
	// ErrRevisionNotFound: the repo exists but the branch, tag or commit does not.
	ErrRevisionNotFound = errors.New("hub: revision not found")
	// ErrEntryNotFound: the revision exists but the file does not.
	ErrEntryNotFound = errors.New("hub: file not found")
	// ErrUnauthorized: the token was refused, or an operation needs one and none is set.
	ErrUnauthorized = errors.New("hub: unauthorized")
	// ErrForbidden: the token is valid but lacks the permission (e.g. write access).
	ErrForbidden = errors.New("hub: forbidden")
	// ErrOffline: offline mode (HF_HUB_OFFLINE=1 or WithOffline) and the cache cannot answer.
	ErrOffline = errors.New("hub: offline and not in the cache")
	// ErrChecksum: downloaded or uploaded bytes do not hash to what the Hub announced.
	ErrChecksum = errors.New("hub: checksum mismatch")
	// ErrNoSpace: not enough free disk space for the download.
	ErrNoSpace = errors.New("hub: not enough disk space")
	// ErrIncomplete: a cached snapshot lacks files that were asked for.
	ErrIncomplete = errors.New("hub: incomplete snapshot")
	// ErrRateLimited: the Hub kept answering 429 after all retries.
	ErrRateLimited = errors.New("hub: rate limited")
	// ErrServer: the Hub kept failing (5xx, resets, timeouts) after all retries.
	ErrServer = errors.New("hub: server or network error")
)

// Error is an HTTP error from the Hub with the details it sent (X-Error-Code, X-Error-Message,
// the JSON body's "error") and a hint saying what to do. errors.Is matches its Kind.
type Error struct {
	Kind       error  // one of the sentinel errors above, or nil
	StatusCode int    // HTTP status
	Code       string // X-Error-Code (GatedRepo, RepoNotFound, RevisionNotFound, EntryNotFound, ...)
	Message    string // the server's message
	Method     string
	URL        string
	RequestID  string // X-Request-Id, for support requests
	Hint       string // what the user can do about it
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Kind != nil {
		b.WriteString(e.Kind.Error())
	} else {
		b.WriteString("hub: request failed")
	}
	fmt.Fprintf(&b, " (%d", e.StatusCode)
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	b.WriteString(")")
	if e.Method != "" || e.URL != "" {
		fmt.Fprintf(&b, ": %s %s", e.Method, e.URL)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [request id %s]", e.RequestID)
	}
	if e.Hint != "" {
		fmt.Fprintf(&b, "\n%s", e.Hint)
	}
	return b.String()
}

// Unwrap lets errors.Is(err, ErrGated) and friends work.
func (e *Error) Unwrap() error { return e.Kind }

// what names the thing a request was about, to word the hint.
type what struct {
	endpoint string // Hub base URL
	repo     string
	revision string
	path     string
	write    bool // an upload or repo creation
}

// responseError turns a non-2xx response into an *Error, reading (a bounded part of) the body.
// It follows huggingface_hub's hf_raise_for_status: X-Error-Code first, then the status.
func responseError(resp *http.Response, w what, hasToken bool) *Error {
	e := &Error{
		StatusCode: resp.StatusCode,
		Code:       resp.Header.Get("X-Error-Code"),
		Message:    resp.Header.Get("X-Error-Message"),
		RequestID:  resp.Header.Get("X-Request-Id"),
	}
	if resp.Request != nil {
		e.Method = resp.Request.Method
		e.URL = redactURL(resp.Request.URL.String())
	}
	if resp.Body != nil {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if msg := bodyMessage(body); msg != "" && msg != e.Message {
			if e.Message == "" {
				e.Message = msg
			} else {
				e.Message += ": " + msg
			}
		}
	}
	repoURL := strings.TrimRight(w.endpoint, "/") + "/" + w.repo
	login := "set HF_TOKEN (or run `hf auth login`) with a token from https://huggingface.co/settings/tokens"
	switch {
	case e.Code == "GatedRepo":
		e.Kind = ErrGated
		if hasToken {
			e.Hint = fmt.Sprintf("%s is gated and this token is not on its authorized list: request access at %s, wait for approval, then retry.", w.repo, repoURL)
		} else {
			e.Hint = fmt.Sprintf("%s is gated: request access at %s, then %s.", w.repo, repoURL, login)
		}
	case e.Code == "RevisionNotFound":
		e.Kind = ErrRevisionNotFound
		e.Hint = fmt.Sprintf("%s has no branch, tag or commit %q: see %s/tree/main for its branches.", w.repo, w.revision, repoURL)
	case e.Code == "EntryNotFound":
		e.Kind = ErrEntryNotFound
		e.Hint = fmt.Sprintf("%s@%s has no file %q.", w.repo, w.revision, w.path)
	case e.Code == "RepoNotFound" ||
		(resp.StatusCode == 401 && e.Message != "Invalid credentials in Authorization header" && !w.write) ||
		(resp.StatusCode == 404 && w.repo != "" && w.path == "" && !w.write):
		e.Kind = ErrRepoNotFound
		if hasToken {
			e.Hint = fmt.Sprintf("check the name %q; if the repo is private, the token must belong to an account that can read it.", w.repo)
		} else {
			e.Hint = fmt.Sprintf("check the name %q; if the repo is private or gated, %s.", w.repo, login)
		}
	case resp.StatusCode == 401:
		e.Kind = ErrUnauthorized
		if hasToken {
			e.Hint = "the Hub refused the token: it may be revoked or mistyped; " + login + "."
		} else {
			e.Hint = "this needs a token: " + login + "."
		}
	case resp.StatusCode == 403:
		e.Kind = ErrForbidden
		if w.write {
			e.Hint = fmt.Sprintf("the token cannot write to %s: use a token with write access to that namespace.", w.repo)
		} else {
			e.Hint = "the token lacks the permission for this: check its scopes at https://huggingface.co/settings/tokens."
		}
	case resp.StatusCode == 429:
		e.Kind = ErrRateLimited
		e.Hint = "the Hub is rate-limiting this client: wait a few minutes" + map[bool]string{true: ".", false: ", or set HF_TOKEN (authenticated requests get higher limits)."}[hasToken]
	case resp.StatusCode >= 500:
		e.Kind = ErrServer
		e.Hint = "the Hub is failing; retry later (https://status.huggingface.co)."
	}
	return e
}

// bodyMessage extracts the Hub's error text from a JSON body ({"error": "..."} or
// {"error": [...]} or {"message": "..."}), or returns a short plain-text body.
func bodyMessage(body []byte) string {
	var j struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Desc    string          `json:"error_description"`
	}
	if json.Unmarshal(body, &j) == nil {
		var s string
		var list []string
		switch {
		case json.Unmarshal(j.Error, &s) == nil && s != "":
		case json.Unmarshal(j.Error, &list) == nil && len(list) > 0:
			s = strings.Join(list, "; ")
		default:
			s = j.Message
		}
		if j.Desc != "" {
			s = strings.TrimPrefix(s+": "+j.Desc, ": ")
		}
		return s
	}
	t := strings.TrimSpace(string(body))
	if len(t) > 200 || strings.ContainsAny(t, "<\x00") {
		return ""
	}
	return t
}

// redactURL drops the query string (it may hold a signature) from URLs shown in errors.
func redactURL(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}
