package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultEndpoint is the Hub's address when HF_ENDPOINT is not set.
const DefaultEndpoint = "https://huggingface.co"

// Client talks to one Hub endpoint and one cache. It is safe for concurrent use.
type Client struct {
	endpoint    string
	token       string
	cacheDir    string
	offline     bool
	http        *http.Client
	progress    io.Writer // nil: no progress bars
	concurrency int
	retry       RetryPolicy
	stall       time.Duration // abort a transfer that delivers nothing for this long
	userAgent   string
	logf        func(format string, args ...any)
}

// RetryPolicy says how transient failures (5xx, 408, 429, resets, timeouts) are retried.
type RetryPolicy struct {
	MaxRetries int           // retries after the first attempt
	BaseWait   time.Duration // first wait, doubled each time
	MaxWait    time.Duration // cap on one wait
}

// Option configures a Client; options win over the environment.
type Option func(*Client) error

// WithEndpoint sets the Hub URL (default $HF_ENDPOINT, else https://huggingface.co).
func WithEndpoint(u string) Option {
	return func(c *Client) error {
		u = strings.TrimRight(u, "/")
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return fmt.Errorf("hub: endpoint %q must start with http:// or https://", u)
		}
		c.endpoint = u
		return nil
	}
}

// WithToken sets the access token; "" means anonymous (default $HF_TOKEN, else the token file).
func WithToken(tok string) Option {
	return func(c *Client) error { c.token = cleanToken(tok); return nil }
}

// WithCacheDir sets the hub cache folder (default $HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub).
func WithCacheDir(dir string) Option {
	return func(c *Client) error { c.cacheDir = dir; return nil }
}

// WithOffline forces cache-only operation (default: $HF_HUB_OFFLINE).
func WithOffline(off bool) Option {
	return func(c *Client) error { c.offline = off; return nil }
}

// WithHTTPClient sets the HTTP client. Its CheckRedirect is ignored: the client follows
// redirects itself so that the token never reaches another host.
func WithHTTPClient(h *http.Client) Option {
	return func(c *Client) error { c.http = h; return nil }
}

// WithProgress sets where progress bars go; nil silences them (default: stderr when it is a
// terminal and HF_HUB_DISABLE_PROGRESS_BARS is not set).
func WithProgress(w io.Writer) Option {
	return func(c *Client) error { c.progress = w; return nil }
}

// WithConcurrency sets how many files are transferred at once (default 8).
func WithConcurrency(n int) Option {
	return func(c *Client) error {
		if n < 1 {
			return fmt.Errorf("hub: concurrency %d < 1", n)
		}
		c.concurrency = n
		return nil
	}
}

// WithRetry sets the retry policy (default: 5 retries, 1s doubling up to 8s, as huggingface_hub).
func WithRetry(p RetryPolicy) Option {
	return func(c *Client) error {
		if p.MaxRetries < 0 || p.BaseWait < 0 || p.MaxWait < p.BaseWait {
			return fmt.Errorf("hub: bad retry policy %+v", p)
		}
		c.retry = p
		return nil
	}
}

// WithStallTimeout sets how long a transfer may receive nothing before it is aborted and
// resumed (default $HF_HUB_DOWNLOAD_TIMEOUT seconds, else 10s, as huggingface_hub).
func WithStallTimeout(d time.Duration) Option {
	return func(c *Client) error { c.stall = d; return nil }
}

// WithLogf sets where warnings go (default: stderr).
func WithLogf(f func(format string, args ...any)) Option {
	return func(c *Client) error { c.logf = f; return nil }
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option {
	return func(c *Client) error { c.userAgent = ua; return nil }
}

// NewClient makes a client configured from the environment, then from opts.
func NewClient(opts ...Option) (*Client, error) {
	c := &Client{
		endpoint:    strings.TrimRight(envOr("HF_ENDPOINT", DefaultEndpoint), "/"),
		token:       envToken(),
		cacheDir:    envCacheDir(),
		offline:     envTrue("HF_HUB_OFFLINE") || envTrue("TRANSFORMERS_OFFLINE"),
		concurrency: 8,
		retry:       RetryPolicy{MaxRetries: 5, BaseWait: time.Second, MaxWait: 8 * time.Second},
		stall:       10 * time.Second,
		userAgent:   "ggufy (go " + runtime.Version() + "; " + runtime.GOOS + "/" + runtime.GOARCH + ")",
		logf: func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "ggufy: "+format+"\n", args...)
		},
	}
	if s := os.Getenv("HF_HUB_DOWNLOAD_TIMEOUT"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			c.stall = time.Duration(n) * time.Second
		}
	}
	if !envTrue("HF_HUB_DISABLE_PROGRESS_BARS") && isTerminal(os.Stderr) {
		c.progress = os.Stderr
	}
	headerTimeout := 10 * time.Second
	if s := os.Getenv("HF_HUB_ETAG_TIMEOUT"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			headerTimeout = time.Duration(n) * time.Second
		}
	}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	if c.http == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = max(headerTimeout, 30*time.Second)
		t.MaxIdleConnsPerHost = c.concurrency + 2
		c.http = &http.Client{Transport: t}
	}
	// Follow redirects ourselves (see do): copy the client so the caller's is not modified.
	hc := *c.http
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.http = &hc
	if c.logf == nil {
		c.logf = func(string, ...any) {}
	}
	return c, nil
}

// Endpoint returns the Hub URL in use.
func (c *Client) Endpoint() string { return c.endpoint }

// CacheDir returns the hub cache folder in use.
func (c *Client) CacheDir() string { return c.cacheDir }

// Offline reports whether the client only uses the cache.
func (c *Client) Offline() bool { return c.offline }

// HasToken reports whether requests carry a token.
func (c *Client) HasToken() bool { return c.token != "" }

// envTrue follows huggingface_hub's _is_true: 1, ON, YES, TRUE (any case).
func envTrue(name string) bool {
	switch strings.ToUpper(os.Getenv(name)) {
	case "1", "ON", "YES", "TRUE":
		return true
	}
	return false
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// expandPath does os.path.expanduser + expandvars, as huggingface_hub does for its paths.
func expandPath(p string) string {
	p = os.ExpandEnv(p)
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, p[1:])
		}
	}
	return p
}

// hfHome is $HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface.
func hfHome() string {
	if v := os.Getenv("HF_HOME"); v != "" {
		return expandPath(v)
	}
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = "."
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(expandPath(base), "huggingface")
}

// envCacheDir is $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub.
func envCacheDir() string {
	for _, v := range []string{"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"} {
		if d := os.Getenv(v); d != "" {
			return expandPath(d)
		}
	}
	return filepath.Join(hfHome(), "hub")
}

// envToken is $HF_TOKEN, else $HUGGING_FACE_HUB_TOKEN, else the token file huggingface_hub
// writes at login ($HF_TOKEN_PATH, else $HF_HOME/token).
func envToken() string {
	if t := cleanToken(os.Getenv("HF_TOKEN")); t != "" {
		return t
	}
	if t := cleanToken(os.Getenv("HUGGING_FACE_HUB_TOKEN")); t != "" {
		return t
	}
	path := os.Getenv("HF_TOKEN_PATH")
	if path == "" {
		path = filepath.Join(hfHome(), "token")
	} else {
		path = expandPath(path)
	}
	b, err := os.ReadFile(path)
	if err != nil || len(b) > 4096 {
		return ""
	}
	return cleanToken(string(b))
}

func cleanToken(t string) string {
	t = strings.ReplaceAll(strings.ReplaceAll(t, "\r", ""), "\n", "")
	return strings.TrimSpace(t)
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
}

// request is one logical Hub call: retried on transient errors, redirects followed by hand.
type request struct {
	method string
	url    string
	header http.Header
	body   func() (io.Reader, error) // fresh body per attempt; nil for none
	length int64                     // body length (Content-Length), when body is set
	what   what
	// noRetry disables retries (used where the caller has its own policy).
	noRetry bool
	// keepRedirect returns the first redirect response instead of following it.
	keepRedirect bool
	// sameHostOnly follows redirects on the Hub's host only and returns a redirect to another
	// host as the answer (a HEAD must not reach a CDN URL signed for GET).
	sameHostOnly bool
	// auth says whether to send the token (to the first host only).
	auth bool
}

// redirectInfo is what the Hub put on the redirects it answered with: the LFS file's real
// etag and size travel on the 302 to the CDN, not on the CDN's response.
type redirectInfo struct {
	linkedEtag string
	linkedSize string
	repoCommit string
	etag       string
}

// do performs r with retries and backoff, following redirects: relative ones (the Hub's own
// /api/resolve-cache/...) keep the token, redirects to another host (the LFS CDN) drop it.
// It returns a 2xx/3xx response (3xx only with keepRedirect), or an error; non-2xx responses
// that are not retried become *Error.
func (c *Client) do(ctx context.Context, r request) (*http.Response, redirectInfo, error) {
	var info redirectInfo
	retries := c.retry.MaxRetries
	if r.noRetry {
		retries = 0
	}
	wait := c.retry.BaseWait
	for attempt := 0; ; attempt++ {
		resp, ri, err := c.once(ctx, r)
		info = ri
		if err == nil && !retryableStatus(resp.StatusCode) {
			if resp.StatusCode >= 400 {
				e := responseError(resp, r.what, c.token != "" && r.auth)
				resp.Body.Close()
				return nil, info, e
			}
			return resp, info, nil
		}
		var last error
		var retryAfter time.Duration
		if err != nil {
			if ctx.Err() != nil || !retryableErr(err) {
				return nil, info, err
			}
			last = fmt.Errorf("%w: %s %s: %w", ErrServer, r.method, redactURL(r.url), err)
		} else {
			retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"))
			last = responseError(resp, r.what, c.token != "" && r.auth)
			resp.Body.Close()
		}
		if attempt >= retries {
			return nil, info, last
		}
		d := wait
		if retryAfter > 0 {
			d = min(retryAfter, 8*c.retry.MaxWait) // honour Retry-After, within reason
		}
		c.logf("%v; retrying in %v (%d/%d)", firstLine(last), d, attempt+1, retries)
		if err := sleepCtx(ctx, d); err != nil {
			return nil, info, err
		}
		wait = min(wait*2, c.retry.MaxWait)
	}
}

// once performs one attempt of r, following up to 10 redirects.
func (c *Client) once(ctx context.Context, r request) (*http.Response, redirectInfo, error) {
	var info redirectInfo
	target := r.url
	first, err := url.Parse(target)
	if err != nil {
		return nil, info, err
	}
	auth := r.auth
	for hop := 0; hop <= 10; hop++ {
		var body io.Reader
		if r.body != nil && hop == 0 {
			if body, err = r.body(); err != nil {
				return nil, info, err
			}
		}
		req, err := http.NewRequestWithContext(ctx, r.method, target, body)
		if err != nil {
			return nil, info, err
		}
		if body != nil {
			req.ContentLength = r.length
			if r.length == 0 {
				req.Body = http.NoBody
			}
		}
		for k, v := range r.header {
			req.Header[k] = v
		}
		req.Header.Set("User-Agent", c.userAgent)
		if auth && c.token != "" && req.URL.Host == first.Host {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return nil, info, err
		}
		if v := resp.Header.Get("X-Linked-Etag"); v != "" && info.linkedEtag == "" {
			info.linkedEtag = v
		}
		if v := resp.Header.Get("X-Linked-Size"); v != "" && info.linkedSize == "" {
			info.linkedSize = v
		}
		if v := resp.Header.Get("X-Repo-Commit"); v != "" && info.repoCommit == "" {
			info.repoCommit = v
		}
		if v := resp.Header.Get("ETag"); v != "" && info.etag == "" {
			info.etag = v
		}
		if resp.StatusCode < 300 || resp.StatusCode >= 400 || resp.StatusCode == http.StatusNotModified {
			return resp, info, nil
		}
		loc := resp.Header.Get("Location")
		if r.keepRedirect || loc == "" {
			return resp, info, nil
		}
		next, err := req.URL.Parse(loc)
		if err != nil {
			resp.Body.Close()
			return nil, info, fmt.Errorf("hub: bad redirect %q: %w", loc, err)
		}
		crossHost := next.Host != first.Host || next.Scheme != first.Scheme
		if crossHost && r.sameHostOnly {
			return resp, info, nil
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if crossHost {
			auth = false // never hand the token to the CDN
		}
		if r.body != nil {
			return nil, info, fmt.Errorf("hub: %s %s: unexpected redirect to %s", r.method, redactURL(r.url), redactURL(next.String()))
		}
		target = next.String()
	}
	return nil, info, fmt.Errorf("hub: %s %s: too many redirects", r.method, redactURL(r.url))
}

func retryableStatus(code int) bool {
	switch code {
	case 408, 429, 500, 502, 503, 504:
		return true
	}
	return false
}

// retryableErr reports network errors worth another try: resets, timeouts, truncated bodies.
func retryableErr(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) || errors.Is(err, errStalled) ||
		errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}

func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t)
	}
	return 0
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
