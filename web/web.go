// Package web holds the visitor pages: html/template files and their CSS,
// embedded, with no build step and nothing loaded from elsewhere.
package web

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"
	"unicode"
)

//go:embed templates/*.html templates/style.css
var files embed.FS

var (
	pages = template.Must(template.New("pages").Funcs(template.FuncMap{
		"waitText": waitText,
	}).ParseFS(files, "templates/*.html"))
	// CSS is inlined into every page; StyleHash lets the
	// Content-Security-Policy allow exactly it.
	css       = mustRead("templates/style.css")
	StyleHash = "'sha256-" + sha256b64(css) + "'"
)

func mustRead(name string) string {
	b, err := files.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func sha256b64(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// Brand is the operator's product name and logo.
type Brand struct {
	ProductName string
	LogoURL     string
}

// hostPort is what a CSP host-source may hold: no quotes, spaces, commas or
// semicolons that would end the source list or the directive.
var hostPort = regexp.MustCompile(`^([A-Za-z0-9-]+\.)*[A-Za-z0-9-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$`)

// logo returns the logo address a page may load, and the CSP source that
// allows it ("" when 'self' or data: already do). A logo URL the pages
// cannot safely allow is not shown at all.
func (b Brand) logo() (src, cspSource string) {
	raw := strings.TrimSpace(b.LogoURL)
	if raw == "" || strings.ContainsAny(raw, " \t\r\n'\"\\<>`") {
		return "", ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", ""
	}
	switch strings.ToLower(u.Scheme) {
	case "https", "http":
		// ';' and ',' would end the CSP directive or source list.
		if strings.ContainsAny(raw, ";,") || !hostPort.MatchString(u.Host) || u.User != nil {
			return "", ""
		}
		// Scheme, host and path: a CSP path match ignores the query.
		return raw, strings.ToLower(u.Scheme) + "://" + u.Host + u.EscapedPath()
	case "data":
		if strings.HasPrefix(strings.ToLower(u.Opaque), "image/") {
			return raw, ""
		}
	case "":
		if strings.HasPrefix(raw, "/") && !strings.HasPrefix(raw, "//") && u.Host == "" {
			return raw, ""
		}
	}
	return "", ""
}

// Logo is the logo address the header shows, or "" for none. It is vetted
// by logo (an image data: URL, a same-site path or an http(s) URL), so the
// template may use it as is.
func (b Brand) Logo() template.URL {
	src, _ := b.logo()
	return template.URL(src)
}

// CSP is the Content-Security-Policy of every page of this brand: nothing
// but the inlined style, same-origin images and media, and the operator's
// logo when one is configured.
func (b Brand) CSP() string {
	img := "'self' data:"
	if _, src := b.logo(); src != "" {
		img += " " + src
	}
	return "default-src 'none'; img-src " + img + "; media-src 'self'; style-src " + StyleHash +
		"; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}

// KV is one row of a metadata table.
type KV struct{ Key, Value string }

// Label is the key spelled for people: "DateTimeOriginal" reads
// "Date Time Original".
func (kv KV) Label() string {
	var b strings.Builder
	rs := []rune(kv.Key)
	for i, r := range rs {
		if r == '_' {
			b.WriteRune(' ')
			continue
		}
		if i > 0 && unicode.IsUpper(r) && (unicode.IsLower(rs[i-1]) ||
			(i+1 < len(rs) && unicode.IsUpper(rs[i-1]) && unicode.IsLower(rs[i+1]))) {
			b.WriteRune(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// File is one file as a page shows it.
type File struct {
	ID           string
	Name         string
	Path         string
	Mime         string
	FileType     string
	Size         int64
	Width        int
	Height       int
	Duration     float64
	UpdatedAt    time.Time
	Metadata     []KV
	ContentURL   string
	DownloadURL  string
	ThumbnailURL string
	DetailURL    string
}

// Kind is how a page previews the file: image, video, audio or other.
func (f File) Kind() string {
	major, _, _ := strings.Cut(strings.ToLower(f.Mime), "/")
	switch {
	case major == "image" || (f.Mime == "" && f.FileType == "image"):
		return "image"
	case major == "video", major == "audio":
		return major
	}
	return "other"
}

// Ext is the file's extension in capitals ("PNG"), or "FILE".
func (f File) Ext() string {
	ext := strings.TrimPrefix(path.Ext(f.Name), ".")
	if ext == "" || len(ext) > 5 {
		if _, sub, ok := strings.Cut(f.Mime, "/"); ok && len(sub) <= 5 && sub != "" {
			return strings.ToUpper(sub)
		}
		return "FILE"
	}
	return strings.ToUpper(ext)
}

// TypeText names the file's type for people: "PNG image".
func (f File) TypeText() string {
	switch k := f.Kind(); k {
	case "image", "video", "audio":
		return f.Ext() + " " + k
	}
	if strings.HasPrefix(f.Mime, "text/") {
		return f.Ext() + " document"
	}
	return f.Ext() + " file"
}

// SizeText is the size for people: "379 B", "1.2 MB".
func (f File) SizeText() string { return HumanSize(f.Size) }

// HumanSize spells a byte count with binary units, as file managers do.
func HumanSize(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n)
	for _, u := range []string{"KB", "MB", "GB", "TB"} {
		v /= 1024
		if v < 1024 || u == "TB" {
			if v < 10 {
				return fmt.Sprintf("%.1f %s", v, u)
			}
			return fmt.Sprintf("%.0f %s", v, u)
		}
	}
	return ""
}

// Dimensions is "W × H px", or "" when unknown.
func (f File) Dimensions() string {
	if f.Width <= 0 || f.Height <= 0 {
		return ""
	}
	return fmt.Sprintf("%d × %d px", f.Width, f.Height)
}

// DurationText is "m:ss" (or "h:mm:ss"), or "" when unknown.
func (f File) DurationText() string {
	if f.Duration <= 0 {
		return ""
	}
	s := int(f.Duration + 0.5)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// UpdatedText is the day the file last changed, or "".
func (f File) UpdatedText() string {
	if f.UpdatedAt.IsZero() {
		return ""
	}
	return f.UpdatedAt.UTC().Format("2 Jan 2006")
}

// Folder is one subfolder entry of a gallery.
type Folder struct {
	Name string
	URL  string
}

// Crumb is one step of a gallery's breadcrumb.
type Crumb struct {
	Name string
	URL  string
}

// Page is everything a template may show.
type Page struct {
	Brand  Brand
	Title  string
	Status int
	Style  template.CSS
	// Kind is file, gallery, password or error.
	Kind string
	// File pages and gallery detail views.
	File *File
	// Galleries. Label says what was shared ("Shared folder").
	Label   string
	Folders []Folder
	Files   []File
	Crumbs  []Crumb
	ZipURL  string
	// FileCount and TotalSize cover every page of the gallery.
	FileCount int
	TotalSize int64
	PageNum   int
	PageCount int
	PrevURL   string
	NextURL   string
	// Detail views: where "Back" goes and what it is called.
	BackURL  string
	BackName string
	// Password pages.
	UnlockURL  string
	Message    string
	RetryAfter int
}

// TotalSizeText is the gallery's total size for people.
func (p *Page) TotalSizeText() string { return HumanSize(p.TotalSize) }

// waitText turns a Retry-After in seconds into words: "2 minutes".
func waitText(seconds int) string {
	if seconds < 60 {
		if seconds <= 1 {
			return "1 second"
		}
		return fmt.Sprintf("%d seconds", seconds)
	}
	m := (seconds + 59) / 60
	if m == 1 {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", m)
}

// Render writes page p with the template named by p.Kind.
func Render(w io.Writer, p *Page) error {
	p.Style = template.CSS(css)
	return pages.ExecuteTemplate(w, p.Kind+".html", p)
}
