package caddymodule

import (
	"archive/zip"
	"context"
	"errors"
	"hash/fnv"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/publink/publink/origin"
	"github.com/publink/publink/policy"
	"github.com/publink/publink/store"
)

// maxZipDirEntries bounds how many entries of one folder a zip pages
// through; a zip streams, so it may go much further than a listing.
const maxZipDirEntries = 1_000_000

// maxZipName bounds one entry name segment, in bytes (common file systems
// allow 255).
const maxZipName = 255

// zip serves GET and HEAD /s/{token}/download.zip: every visible file,
// streamed as it is read from the origin, stored (not deflated: media is
// already compressed), so memory stays constant whatever the size.
func (v *visit) zip() error {
	s, err := v.scope()
	if s == nil {
		return err
	}
	if v.r.Method == http.MethodHead {
		// Headers only: no origin fetch, no session, no record.
		v.zipHeaders(s)
		v.cacheHeaders()
		v.w.WriteHeader(http.StatusOK)
		return nil
	}
	a := v.app()
	session, fresh := v.visitorSession(true)
	d := store.Download{
		ID: newID("dl"), Account: v.link.Account, LinkID: v.link.ID,
		Session: sessionKey(session), User: v.libraryUser(),
		CreatedAt: v.now.UTC(), Status: "in_progress",
	}
	if err := a.store.AddDownload(v.r.Context(), d); err != nil {
		return v.fail(err)
	}

	out := &zipResponse{v: v, s: s, freshSession: fresh}
	z := newZipArchive(out)
	err = v.eachZipEntry(s, func(name string, f *origin.File) error {
		return v.addZipEntry(z, name, f)
	})
	if err == nil {
		err = z.close()
	}
	d.Files, d.Bytes = z.files, out.n
	d.Status = "completed"
	if err != nil {
		d.Status = "failed"
	}
	v.finishDownload(d)
	switch {
	case err == nil:
		return nil
	case out.err != nil || errors.Is(err, context.Canceled) || v.r.Context().Err() != nil:
		// The visitor went away; there is no one left to answer.
		return nil
	case !out.started:
		// Nothing has been sent yet: a proper error response is possible.
		return v.fail(err)
	default:
		// Half an archive is out. Abort the response so the client sees a
		// broken download (no final chunk, connection closed) instead of a
		// short archive that looks complete.
		v.h.logger.Warn("zip download aborted", zap.String("link", v.link.ID), zap.Error(err))
		panic(http.ErrAbortHandler)
	}
}

// zipHeaders sets the headers of a zip response.
func (v *visit) zipHeaders(s *scope) {
	hdr := v.w.Header()
	hdr.Set("Content-Type", "application/zip")
	cd := mime.FormatMediaType("attachment", map[string]string{"filename": zipFileName(v.link, s)})
	if cd == "" {
		cd = `attachment; filename="download.zip"`
	}
	hdr.Set("Content-Disposition", cd)
}

// zipFileName names the archive after the link's target: "photos.zip".
func zipFileName(l *policy.Link, s *scope) string {
	var name string
	switch {
	case s.folder != nil:
		name = s.folder.Name
	case s.collection != nil:
		name = s.collection.Name
	case s.file != nil:
		name = strings.TrimSuffix(s.file.Name, path.Ext(s.file.Name))
	}
	return safeZipName(name, "download") + ".zip"
}

// finishDownload stores the outcome even when the visitor has gone.
func (v *visit) finishDownload(d store.Download) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(v.r.Context()), 5*time.Second)
	defer cancel()
	if err := v.app().store.AddDownload(ctx, d); err != nil {
		v.h.logger.Warn("recording download", zap.String("link", v.link.ID), zap.Error(err))
	}
}

// addZipEntry copies one file's current version into the archive and
// closes the origin body at once. A file the origin no longer has is left
// out; any other failure ends the archive.
func (v *visit) addZipEntry(z *zipArchive, name string, f *origin.File) error {
	resp, err := v.app().origin.Blob(v.r.Context(), v.link.ID, f.FileID, "content", http.MethodGet, http.Header{})
	if errors.Is(err, origin.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New("origin answered " + resp.Status + " for zip content")
	}
	modified := v.now
	if t, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		modified = t
	}
	return z.add(name, modified, resp.Body)
}

// eachZipEntry calls fn with the archive name of every visible file, in
// archive order. Folder zips walk the subtree depth first, one origin page
// at a time, with names relative to the shared folder.
func (v *visit) eachZipEntry(s *scope, fn func(name string, f *origin.File) error) error {
	a, ctx, l := v.app(), v.r.Context(), v.link
	switch l.Target.Type {
	case policy.TargetFile:
		return fn(safeZipName(s.file.Name, s.file.FileID), s.file)
	case policy.TargetCollection:
		names := zipNames{}
		for _, m := range s.collection.Files {
			f, err := a.visibleFile(ctx, l, s, m.FileID)
			if err != nil {
				continue
			}
			if err := fn(names.unique(safeZipName(f.Name, f.FileID)), f); err != nil {
				return err
			}
		}
		return nil
	case policy.TargetFolder:
		type pending struct{ dir, prefix string }
		stack := []pending{{dir: s.folder.FolderPath}}
		for len(stack) > 0 {
			p := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			names := zipNames{}
			var subs []pending
			err := a.eachEntryUpTo(ctx, l, p.dir, maxZipDirEntries, func(e *origin.File) error {
				folder, _, ok := s.child(l, p.dir, e)
				switch {
				case !ok:
					return nil
				case folder:
					name := names.unique(safeZipName(path.Base(e.FolderPath), e.FolderID))
					subs = append(subs, pending{dir: e.FolderPath, prefix: joinRel(p.prefix, name)})
					return nil
				}
				return fn(joinRel(p.prefix, names.unique(safeZipName(path.Base(e.FilePath), e.FileID))), e)
			})
			if err != nil {
				return err
			}
			for i := len(subs) - 1; i >= 0; i-- {
				stack = append(stack, subs[i])
			}
		}
		return nil
	}
	return origin.ErrNotFound
}

// safeZipName makes one entry name segment safe to extract anywhere: valid
// UTF-8, no separators, control or bidi-override characters, no dot names,
// at most maxZipName bytes. What cannot be saved becomes fallback (an id).
func safeZipName(name, fallback string) string {
	name = strings.ToValidUTF8(name, "_")
	name = strings.Map(func(r rune) rune {
		switch {
		case r < 0x20, r == 0x7f, r == '/', r == '\\', r == utf8.RuneError,
			r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f:
			return '_'
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if len(name) > maxZipName {
		ext := path.Ext(name)
		if len(ext) > 16 {
			ext = ""
		}
		name = truncateUTF8(name[:len(name)-len(ext)], maxZipName-len(ext)) + ext
	}
	if name == "" || name == "." || name == ".." {
		return fallback
	}
	return name
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// zipNames makes names unique within one folder of an archive: "a.png",
// "a (2).png", … Names are compared case-insensitively, since the archive
// may be extracted on a case-insensitive file system; only a 64-bit hash
// of each is kept, so a large folder costs little memory.
type zipNames map[uint64]struct{}

func (n zipNames) unique(name string) string {
	ext := path.Ext(name)
	if ext == name {
		ext = "" // ".profile" is all name
	}
	base := strings.TrimSuffix(name, ext)
	for i := 2; ; i++ {
		if n.take(name) {
			return name
		}
		name = base + " (" + strconv.Itoa(i) + ")" + ext
	}
}

func (n zipNames) take(name string) bool {
	h := fnv.New64a()
	io.WriteString(h, strings.ToLower(name))
	k := h.Sum64()
	if _, dup := n[k]; dup {
		return false
	}
	n[k] = struct{}{}
	return true
}

// zipResponse is where the archive goes: it sends the response headers
// with the first byte, so a failure before then still gets a proper error
// response, and it remembers whether writing to the client failed.
type zipResponse struct {
	v            *visit
	s            *scope
	freshSession bool
	started      bool
	n            int64
	err          error
}

func (z *zipResponse) Write(p []byte) (int, error) {
	if !z.started {
		z.started = true
		z.v.zipHeaders(z.s)
		// SPEC §3: a public link's successes are public, max-age=N, the
		// zip that starts a visitor's session included. Shared caches and
		// CDNs (Varnish, Fastly, Cloudflare by default) do not store a
		// response that sets a cookie; Vary: Cookie says the same to the
		// rest. The README's CDN section tells operators to keep it that way.
		z.v.cacheHeaders()
		if z.freshSession {
			z.v.w.Header().Add("Vary", "Cookie")
		}
		z.v.w.WriteHeader(http.StatusOK)
	}
	n, err := z.v.w.Write(p)
	z.n += int64(n)
	if err != nil && z.err == nil {
		z.err = err
	}
	return n, err
}

// zipArchive writes a zip of stored entries to w as they come. Sizes and
// CRCs go in data descriptors, so nothing is buffered; archive/zip switches
// to zip64 records by itself past 4 GiB or 65535 entries.
type zipArchive struct {
	zw    *zip.Writer
	files int
}

func newZipArchive(w io.Writer) *zipArchive { return &zipArchive{zw: zip.NewWriter(w)} }

// add writes one entry whose bytes are body. Names that are valid UTF-8
// and not plain ASCII get the UTF-8 flag (NonUTF8 stays false).
func (z *zipArchive) add(name string, modified time.Time, body io.Reader) error {
	w, err := z.zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store, Modified: modified})
	if err != nil {
		return err
	}
	buf := zipBufs.Get().(*[]byte)
	defer zipBufs.Put(buf)
	if _, err := io.CopyBuffer(w, body, *buf); err != nil {
		return err
	}
	z.files++
	return nil
}

// close writes the central directory; only a complete archive gets one.
func (z *zipArchive) close() error { return z.zw.Close() }
