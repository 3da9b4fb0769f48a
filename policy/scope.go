package policy

import (
	"strings"
)

// maxIDLen bounds ids taken from URLs before they reach the origin.
const maxIDLen = 128

// ValidID reports whether s may be used as an origin object id in a URL the
// gateway builds: ASCII letters, digits, '-' and '_' only, so no encoding,
// dot segment or separator can ever reach the origin.
func ValidID(s string) bool {
	if s == "" || len(s) > maxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// maxPathLen bounds relative paths a visitor may ask for.
const maxPathLen = 1024

// CleanRelPath validates a visitor-supplied path relative to a shared folder
// ("2024/june"). It refuses rather than repairs anything odd: dot segments,
// empty segments, backslashes, control characters and over-long input.
// The empty string (the shared folder itself) is valid.
func CleanRelPath(p string) (string, bool) {
	p = strings.Trim(p, "/")
	if p == "" {
		return "", true
	}
	// A '%' left after the query was decoded is a second layer of encoding
	// ("%2e%2e"): no shared folder needs one, and refusing it means an
	// origin that decodes again never sees a dot segment.
	if len(p) > maxPathLen || strings.ContainsRune(p, '%') {
		return "", false
	}
	for _, seg := range strings.Split(p, "/") {
		if !validSegment(seg) {
			return "", false
		}
	}
	return p, true
}

func validSegment(seg string) bool {
	if seg == "" || seg == "." || seg == ".." {
		return false
	}
	for _, r := range seg {
		if r < 0x20 || r == 0x7f || r == '\\' || r == '\uFFFD' {
			return false
		}
	}
	return true
}

// CleanOriginPath validates an absolute path reported by the origin
// ("/photos/2024/a.png"). Paths that are not already clean are treated as
// outside every scope rather than normalised, so a hostile or buggy origin
// cannot smuggle a file into a shared folder with "/photos/../secret".
func CleanOriginPath(p string) (string, bool) {
	if p == "/" {
		return "/", true
	}
	if !strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || len(p) > 4*maxPathLen {
		return "", false
	}
	for _, seg := range strings.Split(p[1:], "/") {
		if !validSegment(seg) {
			return "", false
		}
	}
	return p, true
}

// InFolder reports whether the origin path p lies strictly inside the folder
// whose path is root. "/a/b" contains "/a/b/x" but not "/a/bc/x" nor "/a/b"
// itself.
func InFolder(root, p string) bool {
	root, ok1 := CleanOriginPath(root)
	p, ok2 := CleanOriginPath(p)
	if !ok1 || !ok2 {
		return false
	}
	if root == "/" {
		return p != "/"
	}
	return strings.HasPrefix(p, root+"/")
}

// RelativePath returns p relative to root, or false when p is not inside it.
func RelativePath(root, p string) (string, bool) {
	if !InFolder(root, p) {
		return "", false
	}
	if root == "/" {
		return p[1:], true
	}
	return p[len(root)+1:], true
}

// JoinFolder returns the absolute origin path of rel inside root. rel must
// have passed CleanRelPath.
func JoinFolder(root, rel string) string {
	if rel == "" {
		return root
	}
	if root == "/" {
		return "/" + rel
	}
	return root + "/" + rel
}

// FileFacts is what the origin says about one file, as far as visibility
// depends on it.
type FileFacts struct {
	FileID    string
	FilePath  string
	Published bool
	// Member is true when the file is a member of the link's collection.
	Member bool
}

// Scope is the shared target as the origin currently describes it: the
// folder's path for folder links.
type Scope struct {
	FolderPath string
}

// FileVisible decides whether a link may show a file. A file link shows its
// own file whatever its flags; a folder link shows files strictly inside
// the folder; a collection link shows its members; unpublished files in a
// folder or collection need exposeUnpublished.
func FileVisible(l *Link, s Scope, f FileFacts) bool {
	if !ValidID(f.FileID) {
		return false
	}
	switch l.Target.Type {
	case TargetFile:
		return f.FileID == l.Target.ID
	case TargetFolder:
		if !InFolder(s.FolderPath, f.FilePath) {
			return false
		}
	case TargetCollection:
		if !f.Member {
			return false
		}
	default:
		return false
	}
	return f.Published || l.ExposeUnpublished
}
