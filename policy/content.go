package policy

import (
	"mime"
	"path"
	"strings"
)

// Runnable reports whether a browser could execute content of this type, so
// it must be sent with Content-Security-Policy: sandbox. Any of the origin's
// Content-Type, the file's mime or its name's extension is enough: a
// mislabelled SVG is still an SVG to a browser that sniffs.
func Runnable(contentType, fileMime, name string) bool {
	for _, ct := range []string{contentType, fileMime} {
		if ct == "" {
			continue
		}
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil {
			return true // unparseable: assume the worst
		}
		if runnableType(mt) {
			return true
		}
	}
	switch strings.ToLower(path.Ext(name)) {
	case ".html", ".htm", ".xhtml", ".svg", ".svgz", ".xml", ".xsl", ".xslt", ".js", ".mjs", ".pdf":
		return true
	}
	return false
}

func runnableType(mt string) bool {
	mt = strings.ToLower(mt)
	switch {
	case mt == "text/html", mt == "application/xhtml+xml", mt == "image/svg+xml",
		mt == "text/xml", mt == "application/xml", mt == "text/xsl",
		mt == "application/javascript", mt == "text/javascript", mt == "application/pdf":
		return true
	case strings.HasSuffix(mt, "+xml"):
		return true
	}
	return false
}
