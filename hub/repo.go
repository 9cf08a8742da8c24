package hub

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// DefaultRevision is the branch used when none is named.
const DefaultRevision = "main"

// RepoRef names a model repo and a revision (branch, tag or commit), as in "org/name@rev".
type RepoRef struct {
	ID       string // "org/name" (or a legacy single-segment name such as "gpt2")
	Revision string // "" means DefaultRevision
}

// Rev returns the revision, DefaultRevision when empty.
func (r RepoRef) Rev() string {
	if r.Revision == "" {
		return DefaultRevision
	}
	return r.Revision
}

// String formats the reference as "org/name" or "org/name@rev".
func (r RepoRef) String() string {
	if r.Revision == "" {
		return r.ID
	}
	return r.ID + "@" + r.Revision
}

// repoIDPattern is huggingface_hub's validate_repo_id rule (utils/_validators.py).
var repoIDPattern = regexp.MustCompile(`^(?:[\w\-.]+/)?[\w\-.]{1,96}$`)

// commitPattern matches a full commit sha.
var commitPattern = regexp.MustCompile(`^[0-9a-f]{40}$`)

// ParseRepoRef parses "org/name", "org/name@revision", or a Hub URL
// ("https://huggingface.co/org/name", ".../tree/rev", "hf.co/org/name").
func ParseRepoRef(s string) (RepoRef, error) {
	in := s
	s = strings.TrimSpace(s)
	for _, p := range []string{"https://", "http://"} {
		s = strings.TrimPrefix(s, p)
	}
	for _, host := range []string{"huggingface.co/", "www.huggingface.co/", "hf.co/"} {
		if strings.HasPrefix(s, host) {
			s = strings.TrimPrefix(s, host)
			if i := strings.Index(s, "/tree/"); i > 0 && !strings.Contains(s[:i], "@") {
				rev, err := url.PathUnescape(s[i+len("/tree/"):])
				if err != nil {
					return RepoRef{}, fmt.Errorf("hub: %q: bad revision in URL: %w", in, err)
				}
				s = s[:i] + "@" + rev
			}
			s = strings.TrimSuffix(s, "/")
			break
		}
	}
	id, rev, hasRev := strings.Cut(s, "@")
	if hasRev && rev == "" {
		return RepoRef{}, fmt.Errorf("hub: %q: empty revision after '@'", in)
	}
	if err := ValidateRepoID(id); err != nil {
		return RepoRef{}, fmt.Errorf("hub: %q: %w", in, err)
	}
	if err := validateRevision(rev); err != nil {
		return RepoRef{}, fmt.Errorf("hub: %q: %w", in, err)
	}
	return RepoRef{ID: id, Revision: rev}, nil
}

// ValidateRepoID checks a repo id the way huggingface_hub does.
func ValidateRepoID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("empty repo id (want org/name)")
	case strings.Count(id, "/") > 1:
		return fmt.Errorf("repo id %q has more than one '/' (want org/name)", id)
	case !repoIDPattern.MatchString(id):
		return fmt.Errorf("repo id %q: only letters, digits, '-', '_' and '.' are allowed, at most 96 per part", id)
	case strings.Contains(id, "--") || strings.Contains(id, ".."):
		return fmt.Errorf("repo id %q: '--' and '..' are forbidden", id)
	case strings.HasSuffix(id, ".git"):
		return fmt.Errorf("repo id %q cannot end with .git", id)
	case strings.HasPrefix(id, "-") || strings.HasPrefix(id, ".") || strings.HasSuffix(id, "-") || strings.HasSuffix(id, "."):
		return fmt.Errorf("repo id %q cannot start or end with '-' or '.'", id)
	}
	return nil
}

// validateRevision refuses revisions that could escape the cache's refs/ or snapshots/ folders.
func validateRevision(rev string) error {
	if rev == "" {
		return nil
	}
	for _, part := range strings.Split(rev, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("revision %q is not a valid git ref", rev)
		}
	}
	if strings.ContainsAny(rev, "\x00\\:~^?*[ ") {
		return fmt.Errorf("revision %q is not a valid git ref", rev)
	}
	return nil
}

// repoFolderName is the cache folder of a model repo: "models--org--name".
func repoFolderName(id string) string {
	return "models--" + strings.ReplaceAll(id, "/", "--")
}

// escapeRepoID escapes each part of a repo id for use in a URL path.
func escapeRepoID(id string) string {
	parts := strings.Split(id, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// escapeFilePath escapes each segment of a repo file path for use in a URL path.
func escapeFilePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// validateRepoPath refuses file paths from the Hub that could escape the snapshot folder.
func validateRepoPath(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") || strings.ContainsRune(p, 0) {
		return fmt.Errorf("hub: invalid file path %q", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("hub: invalid file path %q", p)
		}
	}
	return nil
}
