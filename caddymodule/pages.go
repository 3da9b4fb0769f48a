package caddymodule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"

	"github.com/publink/publink/origin"
	"github.com/publink/publink/policy"
	"github.com/publink/publink/web"
)

// renderPage writes an HTML page with the pages' security headers.
func (h *Handler) renderPage(w http.ResponseWriter, r *http.Request, status int, p *web.Page) error {
	p.Brand = web.Brand{ProductName: h.app.ProductName, LogoURL: h.app.LogoURL}
	p.Status = status
	var buf bytes.Buffer
	if err := web.Render(&buf, p); err != nil {
		return err
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Content-Security-Policy", web.CSP)
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return nil
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func errorPage(status int, message string) *web.Page {
	title := http.StatusText(status)
	if status == http.StatusNotFound {
		title = "Link not found"
	}
	return &web.Page{Kind: "error", Title: title, Message: message}
}

// passwordRequired answers a protected link's request without a valid
// unlock cookie: the password form, or the JSON error.
func (h *Handler) passwordRequired(w http.ResponseWriter, r *http.Request, l *policy.Link, status int, message string) error {
	hdr := w.Header()
	hdr.Set("Cache-Control", "private, no-store")
	if wantsJSON(r) {
		code := "password_required"
		if status == http.StatusTooManyRequests {
			code = "too_many_attempts"
		}
		return writeJSON(w, r, status, apiError{apiErrorBody{Code: code, Message: message}})
	}
	p := &web.Page{Kind: "password", Title: "This link is protected", Message: message,
		UnlockURL: defaultBasePath + "/" + l.Token + "/unlock"}
	if ra := hdr.Get("Retry-After"); ra != "" {
		p.RetryAfter, _ = strconv.Atoi(ra)
	}
	return h.renderPage(w, r, status, p)
}

// page serves GET /s/{token}: a file page or a gallery.
func (v *visit) page() error {
	s, err := v.scope()
	if s == nil {
		return err
	}
	a := v.app()
	base := defaultBasePath + "/" + v.link.Token
	q := v.r.URL.Query()
	p := &web.Page{Kind: "gallery", ZipURL: base + "/download.zip"}
	if v.link.Target.Type == policy.TargetFile {
		p.Kind = "file"
		p.Title = s.file.Name
		fv := fileView(base, s, s.file)
		p.File = &fv
		v.cacheHeaders()
		return v.h.renderPage(v.w, v.r, http.StatusOK, p)
	}
	if id := q.Get("file"); id != "" {
		f, err := a.visibleFile(v.r.Context(), v.link, s, id)
		if err != nil {
			return v.fail(err)
		}
		fv := fileView(base, s, f)
		p.Kind = "file"
		p.Title = f.Name
		p.File = &fv
		p.BackURL = base
		if rel := parentRel(fv.Path); rel != "" {
			p.BackURL = base + "?path=" + url.QueryEscape(rel)
		}
		v.cacheHeaders()
		return v.h.renderPage(v.w, v.r, http.StatusOK, p)
	}
	rel, ok := policy.CleanRelPath(q.Get("path"))
	if !ok {
		return v.h.notFound(v.w, v.r)
	}
	lst, err := v.buildListing(s, rel)
	if err != nil {
		return v.fail(err)
	}
	p.Title = lst.Name
	if v.link.Target.Type == policy.TargetFolder {
		p.Crumbs = append(p.Crumbs, web.Crumb{Name: s.folder.Name, URL: base})
		acc := ""
		for _, seg := range splitRel(rel) {
			acc = joinRel(acc, seg)
			p.Crumbs = append(p.Crumbs, web.Crumb{Name: seg, URL: base + "?path=" + url.QueryEscape(acc)})
		}
	}
	for _, f := range lst.Folders {
		p.Folders = append(p.Folders, web.Folder{Name: f.Name, URL: base + "?path=" + url.QueryEscape(f.Path)})
	}
	for _, pf := range lst.Files {
		p.Files = append(p.Files, fileViewFromPublic(base, pf))
	}
	v.cacheHeaders()
	return v.h.renderPage(v.w, v.r, http.StatusOK, p)
}

// fileView turns an allow-listed file into what a page shows.
func fileView(base string, s *scope, f *origin.File) web.File {
	gw := policy.GatewayValues{}
	if s.folder != nil {
		gw.Path, _ = policy.RelativePath(s.folder.FolderPath, f.FilePath)
	}
	pf := policy.BuildPublicFile(f.Raw, policy.DefaultPublicFields, gw)
	return fileViewFromPublic(base, pf)
}

func fileViewFromPublic(base string, pf policy.PublicFile) web.File {
	var fv web.File
	str := func(k string) string {
		var s string
		json.Unmarshal(pf.Get(k), &s)
		return s
	}
	fv.ID = str("fileId")
	fv.Name = str("name")
	fv.Path = str("path")
	fv.Mime = str("mime")
	fv.FileType = str("fileType")
	json.Unmarshal(pf.Get("size"), &fv.Size)
	json.Unmarshal(pf.Get("width"), &fv.Width)
	json.Unmarshal(pf.Get("height"), &fv.Height)
	var meta map[string]any
	if json.Unmarshal(pf.Get("embeddedMetadata"), &meta) == nil {
		for k, v := range meta {
			fv.Metadata = append(fv.Metadata, web.KV{Key: k, Value: fmt.Sprint(v)})
		}
		sort.Slice(fv.Metadata, func(i, j int) bool { return fv.Metadata[i].Key < fv.Metadata[j].Key })
	}
	fb := base + "/files/" + fv.ID
	fv.ContentURL = fb + "/content"
	fv.DownloadURL = fb + "/content?download=1"
	fv.ThumbnailURL = fb + "/thumbnail"
	fv.DetailURL = base + "?file=" + url.QueryEscape(fv.ID)
	return fv
}
