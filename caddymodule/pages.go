package caddymodule

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/publink/publink/policy"
	"github.com/publink/publink/web"
)

// galleryPageSize is how many files one gallery page shows.
const galleryPageSize = 60

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
	hdr.Set("Content-Security-Policy", p.Brand.CSP())
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return nil
	}
	// A write error (the visitor went away) is not returned: Caddy would
	// log it with the full URI, share token included (see writeJSONBody).
	w.Write(buf.Bytes())
	return nil
}

// errorPage is the page of a visitor error. It depends on the status and
// message only, so every 404 page is byte-identical.
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

// galleryURL is a gallery page's address: the folder at rel, page n.
func galleryURL(base, rel string, n int) string {
	q := url.Values{}
	if rel != "" {
		q.Set("path", rel)
	}
	if n > 1 {
		q.Set("page", strconv.Itoa(n))
	}
	if len(q) == 0 {
		return base
	}
	return base + "?" + q.Encode()
}

// page serves GET /s/{token}: a file page, a gallery, or (?file=ID) a
// gallery's view of one file.
func (v *visit) page() error {
	s, err := v.scope()
	if s == nil {
		return err
	}
	a := v.app()
	base := defaultBasePath + "/" + v.link.Token
	q := v.r.URL.Query()
	if v.link.Target.Type == policy.TargetFile {
		fv := fileViewFromPublic(base, a.publicFile(v.link, s, s.file))
		v.cacheHeaders()
		return v.h.renderPage(v.w, v.r, http.StatusOK, &web.Page{Kind: "file", Title: fv.Name, File: &fv})
	}
	if id := q.Get("file"); id != "" {
		f, err := a.visibleFile(v.r.Context(), v.link, s, id)
		if err != nil {
			return v.fail(err)
		}
		fv := fileViewFromPublic(base, a.publicFile(v.link, s, f))
		p := &web.Page{Kind: "file", Title: fv.Name, File: &fv, BackURL: base}
		switch {
		case s.collection != nil:
			p.BackName = s.collection.Name
		case s.folder != nil:
			p.BackName = s.folder.Name
			if rel := parentRel(fv.Path); rel != "" {
				p.BackURL = galleryURL(base, rel, 1)
				p.BackName = rel[strings.LastIndexByte(rel, '/')+1:]
			}
		}
		v.cacheHeaders()
		return v.h.renderPage(v.w, v.r, http.StatusOK, p)
	}
	rel, ok := policy.CleanRelPath(q.Get("path"))
	if !ok {
		return v.h.notFound(v.w, v.r)
	}
	pageNum := 1
	if n := q.Get("page"); n != "" {
		if pageNum, err = strconv.Atoi(n); err != nil || pageNum < 1 {
			return v.h.notFound(v.w, v.r)
		}
	}
	lst, err := v.buildListing(s, rel)
	if err != nil {
		return v.fail(err)
	}
	pageCount := max(1, (len(lst.Files)+galleryPageSize-1)/galleryPageSize)
	if pageNum > pageCount {
		return v.h.notFound(v.w, v.r)
	}
	p := &web.Page{Kind: "gallery", Title: lst.Name, ZipURL: base + "/download.zip",
		FileCount: len(lst.Files), PageNum: pageNum, PageCount: pageCount}
	if pageNum > 1 {
		p.PrevURL = galleryURL(base, rel, pageNum-1)
	}
	if pageNum < pageCount {
		p.NextURL = galleryURL(base, rel, pageNum+1)
	}
	p.Label = "Shared collection"
	if v.link.Target.Type == policy.TargetFolder {
		p.Label = "Shared folder"
		p.Crumbs = append(p.Crumbs, web.Crumb{Name: s.folder.Name, URL: base})
		acc := ""
		for _, seg := range splitRel(rel) {
			acc = joinRel(acc, seg)
			p.Crumbs = append(p.Crumbs, web.Crumb{Name: seg, URL: galleryURL(base, acc, 1)})
		}
		p.Crumbs[len(p.Crumbs)-1].URL = "" // where the visitor is
	}
	if pageNum == 1 {
		for _, f := range lst.Folders {
			p.Folders = append(p.Folders, web.Folder{Name: f.Name, URL: galleryURL(base, f.Path, 1)})
		}
	}
	for i, pf := range lst.Files {
		fv := fileViewFromPublic(base, pf)
		p.TotalSize += fv.Size
		if i >= (pageNum-1)*galleryPageSize && i < pageNum*galleryPageSize {
			p.Files = append(p.Files, fv)
		}
	}
	v.cacheHeaders()
	return v.h.renderPage(v.w, v.r, http.StatusOK, p)
}

// fileViewFromPublic turns an allow-listed file into what a page shows. It
// reads nothing but the publicFile, so a page never shows a field the
// allow-list does not name.
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
	json.Unmarshal(pf.Get("duration"), &fv.Duration)
	if t, err := time.Parse(time.RFC3339, str("updatedAt")); err == nil {
		fv.UpdatedAt = t
	}
	fv.Metadata = metadataRows(pf.Get("embeddedMetadata"))
	fb := base + "/files/" + url.PathEscape(fv.ID)
	fv.ContentURL = fb + "/content"
	fv.DownloadURL = fb + "/content?download=1"
	fv.ThumbnailURL = fb + "/thumbnail"
	fv.DetailURL = base + "?file=" + url.QueryEscape(fv.ID)
	return fv
}

// metadataRows flattens embedded metadata into sorted rows; nested values
// show as compact JSON.
func metadataRows(raw json.RawMessage) []web.KV {
	var meta map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &meta) != nil {
		return nil
	}
	rows := make([]web.KV, 0, len(meta))
	for k, v := range meta {
		var s string
		if json.Unmarshal(v, &s) != nil {
			var buf bytes.Buffer
			if json.Compact(&buf, v) == nil {
				s = buf.String()
			} else {
				s = string(v)
			}
		}
		rows = append(rows, web.KV{Key: k, Value: s})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Key < rows[j].Key })
	return rows
}
