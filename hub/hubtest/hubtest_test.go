package hubtest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// raw is an HTTP client that shows redirects instead of following them.
var raw = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func get(t *testing.T, method, u string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := raw.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// TestProtocol pins down the answers the fake gives, as huggingface.co gives them.
func TestProtocol(t *testing.T) {
	s := New(t)
	s.AddUser("bob", "hf_bob")
	r := s.CreateRepo("acme/m", RepoOptions{})
	big := strings.Repeat("w", 1000)
	sha := r.Commit("main", "add", map[string][]byte{"config.json": []byte(`{"a":1}`), "model.safetensors": []byte(big)})
	s.CreateRepo("acme/gated", RepoOptions{Gated: true}).Commit("main", "add", map[string][]byte{"config.json": []byte("{}")})

	// Regular file: relative 307 to /api/resolve-cache/, with the commit and the git oid.
	resp, _ := get(t, "GET", s.URL+"/acme/m/resolve/main/config.json", nil)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 307 || !strings.HasPrefix(loc, "/api/resolve-cache/models/acme/m/"+sha+"/config.json?") ||
		resp.Header.Get("X-Repo-Commit") != sha || resp.Header.Get("ETag") != `"`+gitOID([]byte(`{"a":1}`))+`"` {
		t.Fatalf("regular resolve: %d %v", resp.StatusCode, resp.Header)
	}
	resp, body := get(t, "GET", s.URL+loc, map[string]string{"Range": "bytes=2-"})
	if resp.StatusCode != 206 || body != `a":1}` || resp.Header.Get("Content-Range") != "bytes 2-6/7" {
		t.Fatalf("resolve-cache range: %d %q %v", resp.StatusCode, body, resp.Header)
	}

	// LFS file: 302 to another host, X-Linked-* on the 302 itself.
	resp, _ = get(t, "GET", s.URL+"/acme/m/resolve/main/model.safetensors", nil)
	cdn := resp.Header.Get("Location")
	u, _ := url.Parse(cdn)
	hubURL, _ := url.Parse(s.URL)
	if resp.StatusCode != 302 || u.Host == hubURL.Host || resp.Header.Get("X-Linked-Size") != "1000" ||
		!strings.HasPrefix(resp.Header.Get("X-Linked-Etag"), `"`) || resp.Header.Get("X-Repo-Commit") != sha {
		t.Fatalf("LFS resolve: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, _ := get(t, "GET", cdn, map[string]string{"Authorization": "Bearer hf_bob"}); resp.StatusCode != 400 {
		t.Fatalf("CDN accepted an Authorization header: %d", resp.StatusCode)
	}
	if resp, _ := get(t, "HEAD", cdn, nil); resp.StatusCode != 403 {
		t.Fatalf("CDN accepted HEAD on a GET signature: %d", resp.StatusCode)
	}
	if resp, body := get(t, "GET", cdn, map[string]string{"Range": "bytes=990-"}); resp.StatusCode != 206 || body != big[990:] {
		t.Fatalf("CDN range: %d", resp.StatusCode)
	}
	if resp, _ := get(t, "GET", cdn, map[string]string{"Range": "bytes=1000-"}); resp.StatusCode != 416 {
		t.Fatalf("range past the end: %d", resp.StatusCode)
	}
	if resp, _ := get(t, "GET", strings.Replace(cdn, "Signature=", "Signature=0", 1), nil); resp.StatusCode != 403 {
		t.Fatalf("bad signature: %d", resp.StatusCode)
	}

	// Errors carry X-Error-Code; anonymous 401 vs authenticated 404 for missing repos.
	for _, tc := range []struct {
		path, token string
		status      int
		code        string
	}{
		{"/acme/none/resolve/main/x", "", 401, "RepoNotFound"},
		{"/acme/none/resolve/main/x", "hf_bob", 404, "RepoNotFound"},
		{"/acme/m/resolve/nope/config.json", "", 404, "RevisionNotFound"},
		{"/acme/m/resolve/main/nope.json", "", 404, "EntryNotFound"},
		{"/acme/gated/resolve/main/config.json", "", 401, "GatedRepo"},
		{"/acme/gated/resolve/main/config.json", "hf_bob", 403, "GatedRepo"},
		{"/api/models/acme/m/revision/nope", "", 404, "RevisionNotFound"},
		{"/api/models/acme/m", "hf_wrong", 401, ""},
	} {
		hdr := map[string]string{}
		if tc.token != "" {
			hdr["Authorization"] = "Bearer " + tc.token
		}
		resp, body := get(t, "GET", s.URL+tc.path, hdr)
		var j struct{ Error string }
		json.Unmarshal([]byte(body), &j)
		if resp.StatusCode != tc.status || resp.Header.Get("X-Error-Code") != tc.code || j.Error == "" {
			t.Errorf("%s (%s): %d %q %q", tc.path, tc.token, resp.StatusCode, resp.Header.Get("X-Error-Code"), body)
		}
		if tc.code == "EntryNotFound" && resp.Header.Get("X-Repo-Commit") != sha {
			t.Errorf("EntryNotFound without X-Repo-Commit")
		}
	}

	// The revision API lists blobs only when asked.
	_, body = get(t, "GET", s.URL+"/api/models/acme/m/revision/main?blobs=true", nil)
	var info struct {
		SHA      string
		Siblings []struct {
			RFilename string
			BlobID    string
			Size      int64
			LFS       *struct {
				SHA256 string
				Size   int64
			}
		}
	}
	json.Unmarshal([]byte(body), &info)
	if info.SHA != sha || len(info.Siblings) != 3 || info.Siblings[2].LFS == nil || info.Siblings[2].LFS.Size != 1000 || info.Siblings[1].BlobID == "" {
		t.Fatalf("revision API: %s", body)
	}
	_, body = get(t, "GET", s.URL+"/api/models/acme/m/revision/HEAD", nil)
	if strings.Contains(body, "blobId") || !strings.Contains(body, sha) {
		t.Fatalf("revision API without blobs: %s", body)
	}

	// Faults strike the requests they name, Times times.
	s.AddFault(Fault{Stage: StageResolve, Path: "config.json", Status: 503, Times: 2})
	for i, want := range []int{503, 503, 307} {
		if resp, _ := get(t, "GET", s.URL+"/acme/m/resolve/main/config.json", nil); resp.StatusCode != want {
			t.Fatalf("request %d: %d, want %d", i, resp.StatusCode, want)
		}
	}
}
