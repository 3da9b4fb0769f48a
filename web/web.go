// Package web holds the visitor pages: html/template files and their CSS,
// embedded, with no build step and nothing loaded from elsewhere.
package web

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"io"
)

//go:embed templates/*.html templates/style.css
var files embed.FS

var (
	pages = template.Must(template.ParseFS(files, "templates/*.html"))
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

// CSP is the Content-Security-Policy of every page.
var CSP = "default-src 'none'; img-src 'self' data:; media-src 'self'; style-src " + StyleHash +
	"; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Brand is the operator's product name and logo.
type Brand struct {
	ProductName string
	LogoURL     string
}

// KV is one row of a metadata table.
type KV struct{ Key, Value string }

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
	Metadata     []KV
	ContentURL   string
	DownloadURL  string
	ThumbnailURL string
	DetailURL    string
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
	// Galleries.
	Folders     []Folder
	Files       []File
	Crumbs      []Crumb
	ZipURL      string
	PrevURL     string
	NextURL     string
	BackURL     string
	// Password pages.
	UnlockURL  string
	Message    string
	RetryAfter int
}

// Render writes page p with the template named by p.Kind.
func Render(w io.Writer, p *Page) error {
	p.Style = template.CSS(css)
	return pages.ExecuteTemplate(w, p.Kind+".html", p)
}
