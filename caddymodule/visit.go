package caddymodule

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/publink/publink/origin"
	"github.com/publink/publink/policy"
)

// visit is one visitor request against a live link.
type visit struct {
	h    *Handler
	w    http.ResponseWriter
	r    *http.Request
	link *policy.Link
	rt   route
	now  time.Time
}

func (v *visit) app() *App { return v.h.app }

// scope resolves the link's target, mapping every failure to the response
// it deserves. A nil scope means the response has been written.
func (v *visit) scope() (*scope, error) {
	s, err := v.app().resolveScope(v.r.Context(), v.link)
	if err != nil {
		return nil, v.fail(err)
	}
	return s, nil
}

// fail writes the response for an error from the origin or the store.
func (v *visit) fail(err error) error {
	switch {
	case errors.Is(err, errTargetGone), errors.Is(err, origin.ErrNotFound):
		return v.h.notFound(v.w, v.r)
	case errors.Is(err, context.Canceled):
		return nil
	default:
		v.app().metrics.originError(err)
		return v.h.unavailable(v.w, v.r, err)
	}
}

// cacheHeaders marks a successful response cacheable per policy.
func (v *visit) cacheHeaders() {
	v.w.Header().Set("Cache-Control", policy.CacheControl(v.link, v.now, time.Duration(v.app().MaxAge)))
	if v.link.HasPassword() {
		v.w.Header().Add("Vary", "Cookie")
	}
}

// listing is the JSON of GET /s/{token}/files.
type listing struct {
	Type    string              `json:"type"`
	Name    string              `json:"name"`
	Path    string              `json:"path"`
	Folders []folderEntry       `json:"folders"`
	Files   []policy.PublicFile `json:"files"`
}

type folderEntry struct {
	Name string `json:"name"`
	Path string `json:"path"`
}

// maxListing bounds how many entries one listing gathers from the origin.
const maxListing = 10_000

// originPage is how many entries one origin listing request asks for.
const originPage = 1000

// buildListing gathers what the link shows at rel (folder links only).
func (v *visit) buildListing(s *scope, rel string) (*listing, error) {
	a := v.app()
	out := &listing{Type: string(v.link.Target.Type), Path: rel, Folders: []folderEntry{}, Files: []policy.PublicFile{}}
	switch v.link.Target.Type {
	case policy.TargetFile:
		if rel != "" {
			return nil, origin.ErrNotFound
		}
		out.Name = s.file.Name
		out.Files = append(out.Files, a.publicFile(v.link, s, s.file))
	case policy.TargetCollection:
		if rel != "" {
			return nil, origin.ErrNotFound
		}
		out.Name = s.collection.Name
		for _, f := range s.collection.Files {
			if vf, err := a.visibleFile(v.r.Context(), v.link, s, f.FileID); err == nil {
				out.Files = append(out.Files, a.publicFile(v.link, s, vf))
			}
		}
	case policy.TargetFolder:
		out.Name = s.folder.Name
		if rel != "" {
			out.Name = rel[strings.LastIndexByte(rel, '/')+1:]
		}
		dir := policy.JoinFolder(s.folder.FolderPath, rel)
		seen := 0
		err := a.eachEntry(v.r.Context(), v.link, dir, func(e *origin.File) error {
			seen++
			folder, sub, ok := s.child(v.link, dir, e)
			switch {
			case !ok:
			case folder:
				out.Folders = append(out.Folders, folderEntry{Name: e.Name, Path: sub})
			default:
				out.Files = append(out.Files, a.publicFile(v.link, s, e))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		// The origin lists an unknown folder as empty; a sub-path that is
		// not a real folder is 404, not an empty listing.
		if rel != "" && seen == 0 {
			if err := a.folderExists(v.r.Context(), v.link, parentOf(dir), dir); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// folderExists finds dir among parent's entries, or answers
// origin.ErrNotFound.
func (a *App) folderExists(ctx context.Context, l *policy.Link, parent, dir string) error {
	errFound := errors.New("found")
	err := a.eachEntry(ctx, l, parent, func(e *origin.File) error {
		if e.Type == "folder" && e.FolderPath == dir {
			return errFound
		}
		return nil
	})
	switch {
	case err == errFound:
		return nil
	case err != nil:
		return err
	}
	return origin.ErrNotFound
}

// child sorts one entry of the origin's listing of dir, inside a folder
// link's folder: a real child folder (sub is its path relative to the
// shared folder), a file the link shows directly in dir, or neither (ok is
// false). Whatever else a listing names is ignored, so a walk of the tree
// only goes deeper and stays inside the shared folder.
func (s *scope) child(l *policy.Link, dir string, e *origin.File) (folder bool, sub string, ok bool) {
	if e.Type == "folder" {
		sub, ok = policy.RelativePath(s.folder.FolderPath, e.FolderPath)
		return true, sub, ok && parentOf(e.FolderPath) == dir
	}
	// Only current files: an origin may list other kinds of entry (ImageKit
	// has "file-version"), and those are never served.
	if (e.Type != "file" && e.Type != "") || parentOf(e.FilePath) != dir {
		return false, "", false
	}
	facts := policy.FileFacts{FileID: e.FileID, FilePath: e.FilePath, Published: e.Published()}
	return false, "", policy.FileVisible(l, s.policy(), facts)
}

func parentOf(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

// errListingTooLarge stops a listing that grew past maxListing.
var errListingTooLarge = errors.New("publink: folder listing too large")

// eachEntry pages through the origin's listing of dir.
func (a *App) eachEntry(ctx context.Context, l *policy.Link, dir string, fn func(*origin.File) error) error {
	return a.eachEntryUpTo(ctx, l, dir, maxListing, fn)
}

// eachEntryUpTo pages through the origin's listing of dir, giving up after
// max entries (zips stream and may go further than a listing held in memory).
// Pages advance by what each held, until listPage reports the last: an
// origin may answer fewer entries than asked for and still have more. A
// page that starts where the previous one did comes from an origin that
// ignores skip and answered everything at once: the listing is done.
func (a *App) eachEntryUpTo(ctx context.Context, l *policy.Link, dir string, max int, fn func(*origin.File) error) error {
	prevFirst := ""
	for skip := 0; ; {
		if skip >= max {
			return errListingTooLarge
		}
		page, last, err := a.listPage(ctx, l.ID, dir, skip)
		if err != nil {
			return err
		}
		if len(page) == 0 || entryKey(page[0]) == prevFirst {
			return nil
		}
		prevFirst = entryKey(page[0])
		for _, e := range page {
			if err := fn(e); err != nil {
				return err
			}
		}
		if last {
			return nil
		}
		skip += len(page)
	}
}

// entryKey identifies a listing entry, to notice a page seen before.
func entryKey(e *origin.File) string {
	return e.Type + "\x00" + e.FileID + "\x00" + e.FolderID + "\x00" + e.FilePath + "\x00" + e.FolderPath
}

// list serves GET /s/{token}/files[?path=rel].
func (v *visit) list() error {
	rel, ok := policy.CleanRelPath(v.r.URL.Query().Get("path"))
	if !ok {
		return v.h.notFound(v.w, v.r)
	}
	s, err := v.scope()
	if s == nil {
		return err
	}
	body, err := v.app().listingJSON(v.link, s, rel, func() ([]byte, error) {
		out, err := v.buildListing(s, rel)
		if err != nil {
			return nil, err
		}
		return encodeJSON(out)
	})
	if err != nil {
		return v.fail(err)
	}
	v.cacheHeaders()
	return writeJSONBody(v.w, v.r, http.StatusOK, body)
}

// file serves GET /s/{token}/files/{fileId}.
func (v *visit) file() error {
	s, err := v.scope()
	if s == nil {
		return err
	}
	f, err := v.app().visibleFile(v.r.Context(), v.link, s, v.rt.fileID)
	if err != nil {
		return v.fail(err)
	}
	v.cacheHeaders()
	return writeJSON(v.w, v.r, http.StatusOK, v.app().publicFile(v.link, s, f))
}

// contentHeaders are the only origin response headers a visitor sees for
// file bytes; Set-Cookie and everything else the origin says stay behind.
var contentHeaders = []string{
	"Content-Type", "Content-Length", "Content-Range", "Accept-Ranges", "Last-Modified",
}

// blob streams a file's current content or its thumbnail.
func (v *visit) blob(kind string) error {
	s, err := v.scope()
	if s == nil {
		return err
	}
	a := v.app()
	f, err := a.visibleFile(v.r.Context(), v.link, s, v.rt.fileID)
	if err != nil {
		return v.fail(err)
	}
	resp, err := a.origin.Blob(v.r.Context(), v.link.ID, f.FileID, kind, v.r.Method, a.etags.forOrigin(v.r.Header))
	if err != nil {
		return v.fail(err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK, http.StatusPartialContent, http.StatusNotModified,
		http.StatusPreconditionFailed, http.StatusRequestedRangeNotSatisfiable:
	default:
		a.metrics.originBadStatus()
		return v.h.unavailable(v.w, v.r, errors.New("origin answered "+resp.Status))
	}
	hdr := v.w.Header()
	for _, k := range contentHeaders {
		if vals := resp.Header.Values(k); len(vals) > 0 {
			hdr[k] = vals
		}
	}
	// The origin's ETag goes out sealed (etag.go): it is often a version id.
	if et := resp.Header.Get("ETag"); et != "" {
		hdr["ETag"] = []string{a.etags.seal(et)}
	}
	ct := hdr.Get("Content-Type")
	if ct == "" {
		// Without a type net/http would sniff one from the bytes, and
		// could call them text/html.
		hdr.Set("Content-Type", "application/octet-stream")
	}
	// Thumbnails too: an origin may answer an SVG's thumbnail with the SVG
	// itself (ImageKit does), and the route serves it on the gateway's
	// origin all the same.
	if policy.Runnable(ct, f.Mime, f.Name) {
		hdr.Set("Content-Security-Policy", "sandbox")
	}
	if kind == "content" {
		disp := "inline"
		if v.r.URL.Query().Get("download") == "1" {
			disp = "attachment"
		}
		if cd := mime.FormatMediaType(disp, map[string]string{"filename": f.Name}); cd != "" {
			hdr.Set("Content-Disposition", cd)
		} else {
			hdr.Set("Content-Disposition", disp)
		}
	}
	if resp.StatusCode >= 400 {
		hdr.Set("Cache-Control", "no-store")
	} else {
		v.cacheHeaders()
	}
	v.w.WriteHeader(resp.StatusCode)
	if v.r.Method == http.MethodHead || resp.StatusCode == http.StatusNotModified {
		return nil
	}
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	// writeOnly hides the ResponseWriter's ReadFrom: through it, net/http
	// flushes the headers in a write of their own and copies the body with
	// a fresh 32 KiB buffer per response (the pool above went unused), which
	// cost about a tenth of publink's req/s on 1 KiB files (issue 7,
	// docs/BENCHMARKS.md). Plain Writes share our pooled buffer and let a
	// small body leave in the same write as its headers.
	_, err = io.CopyBuffer(writeOnly{v.w}, resp.Body, *buf)
	if err != nil && !errors.Is(err, context.Canceled) {
		v.h.logger.Debug("streaming content", zap.Error(err))
	}
	return nil
}
