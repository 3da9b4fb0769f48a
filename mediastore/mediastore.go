// Package mediastore is publink's reference origin media store: it serves a
// folder of media files with JSON sidecar metadata over the origin contract
// (SPEC section 6), verifying the gateway's signature on every request, and
// offers a small management API (used by tests and demos) whose mutations
// are announced to the gateway with Standard Webhooks.
//
// Data layout under the data directory (see examples/README.md):
//
//	media/<folders…>/<file>            media bytes; every directory is a folder
//	media/<folders…>/<file>.json       sidecar: ImageKit-shaped file object fields
//	media/<folders…>/.folder.json      {"folderId","createdAt","updatedAt"}
//	versions/<fileId>/<versionId>      old version bytes (+ optional <versionId>.json)
//	collections/<collectionId>.json    {"collectionId","name","fileIds":[…]}
//	permissions.json                   {"users":{"alice":{"role":"admin"},…}}
package mediastore

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/publink/publink/originauth"
)

// SessionCookie is the Set-Cookie value the origin puts on every /v1/
// response. The gateway must never pass it on to visitors.
const SessionCookie = "ms_session=SENTINEL_ORIGIN_COOKIE; Path=/"

// MaxSkew is how far a gateway signature timestamp may be from now.
const MaxSkew = 5 * time.Minute

// Config configures a Server.
type Config struct {
	DataDir       string // required
	Secret        string // required: origin signing secret, also the management bearer token
	WebhookURL    string // optional: where mutation events are POSTed
	WebhookSecret string // required when WebhookURL is set
	Logger        *log.Logger
	HTTPClient    *http.Client     // for webhooks; default has a 5s timeout
	Now           func() time.Time // default time.Now
}

// Server is the media store. It is an http.Handler and safe for concurrent use.
type Server struct {
	cfg    Config
	dir    string
	root   *os.Root
	logger *log.Logger
	client *http.Client
	now    func() time.Time

	idx   atomic.Pointer[index]
	mutMu sync.Mutex // serialises management mutations

	thumbMu sync.Mutex
	thumbs  map[string][]byte

	reqs *ringLog
	mux  *http.ServeMux
}

// New loads the data directory and returns a ready server.
func New(cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("mediastore: data dir required")
	}
	if cfg.Secret == "" {
		return nil, errors.New("mediastore: secret required")
	}
	if cfg.WebhookURL != "" && cfg.WebhookSecret == "" {
		return nil, errors.New("mediastore: webhook secret required with webhook URL")
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("mediastore: data dir: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("mediastore: %s is not a directory", dir)
	}
	if err := os.MkdirAll(filepath.Join(dir, "media"), 0o755); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:    cfg,
		dir:    dir,
		root:   root,
		logger: cfg.Logger,
		client: cfg.HTTPClient,
		now:    cfg.Now,
		thumbs: map[string][]byte{},
		reqs:   newRingLog(10000),
	}
	if s.logger == nil {
		s.logger = log.New(os.Stderr, "", log.LstdFlags)
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: 5 * time.Second}
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.Reload(); err != nil {
		root.Close()
		return nil, err
	}
	s.routes()
	return s, nil
}

// Close releases the data directory handle.
func (s *Server) Close() error { return s.root.Close() }

// Reload rescans the data directory.
func (s *Server) Reload() error {
	idx, err := load(s.dir, s.logger)
	if err != nil {
		return fmt.Errorf("mediastore: load %s: %w", s.dir, err)
	}
	s.idx.Store(idx)
	return nil
}

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /v1/files", s.listFiles)
	m.HandleFunc("GET /v1/files/{fileId}", s.getFile)
	m.HandleFunc("GET /v1/files/{fileId}/content", s.getContent)
	m.HandleFunc("GET /v1/files/{fileId}/thumbnail", s.getThumbnail)
	m.HandleFunc("GET /v1/files/{fileId}/versions", s.listVersions)
	m.HandleFunc("GET /v1/files/{fileId}/versions/{versionId}/content", s.getVersionContent)
	m.HandleFunc("GET /v1/folders/{folderId}", s.getFolder)
	m.HandleFunc("GET /v1/collections/{collectionId}", s.getCollection)
	m.HandleFunc("GET /v1/permissions", s.getPermission)

	m.HandleFunc("GET /manage/requests", s.manageRequests)
	m.HandleFunc("DELETE /manage/requests", s.manageClearRequests)
	m.HandleFunc("POST /manage/reload", s.manageReload)
	m.HandleFunc("DELETE /manage/files/{fileId}", s.manageDeleteFile)
	m.HandleFunc("PATCH /manage/files/{fileId}", s.managePatchFile)
	m.HandleFunc("POST /manage/files/{fileId}/move", s.manageMoveFile)
	m.HandleFunc("PUT /manage/upload", s.manageUpload)
	m.HandleFunc("DELETE /manage/folders/{folderId}", s.manageDeleteFolder)
	m.HandleFunc("POST /manage/folders/{folderId}/move", s.manageMoveFolder)
	m.HandleFunc("PUT /manage/collections/{collectionId}", s.managePutCollection)
	m.HandleFunc("DELETE /manage/collections/{collectionId}", s.manageDeleteCollection)
	m.HandleFunc("PUT /manage/permissions", s.managePutPermissions)
	s.mux = m
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/manage" || strings.HasPrefix(r.URL.Path, "/manage/") {
		if !s.managementAuthorized(r) {
			writeError(w, http.StatusUnauthorized, "management requires Authorization: Bearer <secret>")
			return
		}
		if path.Clean(r.URL.Path) != r.URL.Path {
			writeError(w, http.StatusNotFound, "not found")
			return
		}
		s.mux.ServeHTTP(w, r)
		return
	}
	rec := RequestRecord{
		Time:       s.now().UTC(),
		Method:     r.Method,
		RequestURI: r.RequestURI,
		Link:       r.Header.Get(originauth.HeaderLink),
		Timestamp:  r.Header.Get(originauth.HeaderTimestamp),
		Signature:  r.Header.Get(originauth.HeaderSignature),
	}
	_, rec.HasLink = r.Header[http.CanonicalHeaderKey(originauth.HeaderLink)]
	for k, v := range r.Header {
		if strings.HasPrefix(strings.ToLower(k), "x-publink-") {
			switch http.CanonicalHeaderKey(k) {
			case http.CanonicalHeaderKey(originauth.HeaderLink), http.CanonicalHeaderKey(originauth.HeaderTimestamp), http.CanonicalHeaderKey(originauth.HeaderSignature):
				continue
			}
			if rec.Headers == nil {
				rec.Headers = map[string][]string{}
			}
			rec.Headers[k] = append([]string(nil), v...)
		}
	}
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		rec.Status = sw.status
		if rec.Status == 0 {
			rec.Status = http.StatusOK
		}
		s.reqs.add(rec)
	}()
	if strings.HasPrefix(r.URL.Path, "/v1/") || r.URL.Path == "/v1" {
		sw.Header().Add("Set-Cookie", SessionCookie)
	}
	_, err := originauth.Verify([]byte(s.cfg.Secret), r, s.now(), MaxSkew)
	if err != nil {
		rec.Error = err.Error()
		writeError(sw, http.StatusUnauthorized, "unauthorized: "+err.Error())
		return
	}
	rec.Verified = true
	if path.Clean(r.URL.Path) != r.URL.Path {
		// No redirects for "..", "." or "//": an origin answers 404.
		writeError(sw, http.StatusNotFound, "not found")
		return
	}
	s.mux.ServeHTTP(sw, r)
}

func (s *Server) managementAuthorized(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	a := sha256.Sum256([]byte(got))
	b := sha256.Sum256([]byte(s.cfg.Secret))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"encode"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b)
	w.Write([]byte{'\n'})
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// ---- origin routes ----

func (s *Server) file(r *http.Request) *fileEntry {
	return s.idx.Load().files[r.PathValue("fileId")]
}

func (s *Server) getFile(w http.ResponseWriter, r *http.Request) {
	f := s.file(r)
	if f == nil {
		writeError(w, http.StatusNotFound, "file not found")
		return
	}
	writeJSON(w, http.StatusOK, f.obj)
}

var safeETag = regexp.MustCompile(`^[A-Za-z0-9._~:+-]{1,200}$`)

// etag forms the ETag for a version id: the id quoted, or a hash of it when
// it holds characters that do not belong in a header.
func etag(versionID string) string {
	if safeETag.MatchString(versionID) {
		return `"` + versionID + `"`
	}
	sum := sha256.Sum256([]byte(versionID))
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

func (s *Server) getContent(w http.ResponseWriter, r *http.Request) {
	f := s.file(r)
	if f == nil {
		writeError(w, http.StatusNotFound, "file not found")
		return
	}
	s.serveCurrent(w, r, f)
}

func (s *Server) serveCurrent(w http.ResponseWriter, r *http.Request, f *fileEntry) {
	fh, err := s.root.Open(f.rel)
	if err != nil {
		writeError(w, http.StatusNotFound, "file not found")
		return
	}
	defer fh.Close()
	w.Header().Set("Content-Type", f.mime)
	w.Header().Set("ETag", etag(f.versionID))
	http.ServeContent(w, r, "", f.updated, fh)
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$`)

func validID(id string) bool { return idPattern.MatchString(id) && !strings.HasSuffix(id, ".json") }

type version struct {
	id   string
	rel  string
	obj  map[string]any
	size int64
	mod  time.Time
}

// oldVersions lists versions/<fileId>/* (bytes files, not their .json).
func (s *Server) oldVersions(f *fileEntry) []version {
	if !validID(f.id) {
		return nil
	}
	dirRel := path.Join("versions", f.id)
	ents, err := os.ReadDir(filepath.Join(s.dir, "versions", f.id))
	if err != nil {
		return nil
	}
	var out []version
	for _, e := range ents {
		n := e.Name()
		if !e.Type().IsRegular() || !validID(n) || n == f.versionID {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		v := version{id: n, rel: path.Join(dirRel, n), size: info.Size(), mod: info.ModTime()}
		obj := cloneMap(f.obj)
		vname := n
		if m, err := readJSONObject(filepath.Join(s.dir, "versions", f.id, n+".json")); err == nil {
			for k, val := range m {
				obj[k] = val
			}
			if vi, ok := m["versionInfo"].(map[string]any); ok {
				if nm, ok := vi["name"].(string); ok {
					vname = nm
				}
			}
		}
		obj["fileId"], obj["type"], obj["filePath"] = f.id, "file", f.path
		obj["versionInfo"] = map[string]any{"id": n, "name": vname}
		obj["size"] = info.Size()
		v.obj = obj
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (s *Server) listVersions(w http.ResponseWriter, r *http.Request) {
	f := s.file(r)
	if f == nil {
		writeError(w, http.StatusNotFound, "file not found")
		return
	}
	list := []any{f.obj}
	for _, v := range s.oldVersions(f) {
		list = append(list, v.obj)
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) getVersionContent(w http.ResponseWriter, r *http.Request) {
	f := s.file(r)
	vid := r.PathValue("versionId")
	if f == nil || !validID(vid) {
		writeError(w, http.StatusNotFound, "version not found")
		return
	}
	if vid == f.versionID {
		s.serveCurrent(w, r, f)
		return
	}
	for _, v := range s.oldVersions(f) {
		if v.id != vid {
			continue
		}
		fh, err := s.root.Open(v.rel)
		if err != nil {
			break
		}
		defer fh.Close()
		w.Header().Set("Content-Type", f.mime)
		w.Header().Set("ETag", etag(v.id))
		http.ServeContent(w, r, "", v.mod, fh)
		return
	}
	writeError(w, http.StatusNotFound, "version not found")
}

func (s *Server) getThumbnail(w http.ResponseWriter, r *http.Request) {
	f := s.file(r)
	if f == nil {
		writeError(w, http.StatusNotFound, "file not found")
		return
	}
	key := f.id + "\x00" + f.versionID + "\x00" + f.rel
	s.thumbMu.Lock()
	b, ok := s.thumbs[key]
	s.thumbMu.Unlock()
	if !ok {
		src, err := s.root.ReadFile(f.rel)
		if err != nil {
			writeError(w, http.StatusNotFound, "file not found")
			return
		}
		b = thumbnail(src, f.mime)
		s.thumbMu.Lock()
		if len(s.thumbs) >= 2000 {
			clear(s.thumbs)
		}
		s.thumbs[key] = b
		s.thumbMu.Unlock()
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("ETag", etag("thumb-"+f.versionID))
	http.ServeContent(w, r, "", f.updated, bytes.NewReader(b))
}

func (s *Server) getFolder(w http.ResponseWriter, r *http.Request) {
	fo := s.idx.Load().folders[r.PathValue("folderId")]
	if fo == nil {
		writeError(w, http.StatusNotFound, "folder not found")
		return
	}
	writeJSON(w, http.StatusOK, fo.object())
}

// normFolderPath turns "photos/", "/photos" … into "/photos"; "" → "/".
func normFolderPath(p string) string {
	p = "/" + strings.Trim(p, "/")
	return p
}

func (s *Server) listFiles(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	skip, limit := 0, 1000
	if v := q.Get("skip"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "invalid skip")
			return
		}
		skip = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "invalid limit")
			return
		}
		if n > 0 {
			limit = min(n, 1000)
		}
	}
	typ := q.Get("type")
	wantFolders, wantFiles := true, true
	switch typ {
	case "", "all":
	case "file":
		wantFolders = false
	case "folder":
		wantFiles = false
	default:
		writeError(w, http.StatusBadRequest, "invalid type")
		return
	}
	idx := s.idx.Load()
	dir := normFolderPath(q.Get("path"))
	items := []any{}
	if _, ok := idx.folderByPath[dir]; ok {
		if wantFolders {
			for _, fo := range idx.childFolders[dir] {
				items = append(items, fo.object())
			}
		}
		if wantFiles {
			for _, f := range idx.childFiles[dir] {
				items = append(items, f.obj)
			}
		}
	}
	if skip >= len(items) {
		items = []any{}
	} else {
		items = items[skip:]
	}
	if len(items) > limit {
		items = items[:limit]
	}
	writeJSON(w, http.StatusOK, items)
}

func (s *Server) getCollection(w http.ResponseWriter, r *http.Request) {
	idx := s.idx.Load()
	c := idx.collections[r.PathValue("collectionId")]
	if c == nil {
		writeError(w, http.StatusNotFound, "collection not found")
		return
	}
	files := []any{}
	for _, id := range c.FileIDs {
		if f := idx.files[id]; f != nil {
			files = append(files, f.obj)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"collectionId": c.CollectionID,
		"name":         c.Name,
		"files":        files,
	})
}

func (s *Server) getPermission(w http.ResponseWriter, r *http.Request) {
	user, target := r.URL.Query().Get("user"), r.URL.Query().Get("target")
	if user == "" || target == "" {
		writeError(w, http.StatusBadRequest, "user and target required")
		return
	}
	u, ok := s.idx.Load().perms.Users[user]
	if !ok {
		writeError(w, http.StatusNotFound, "user not found")
		return
	}
	role, perm := "restricted", "none"
	if u.Role == "admin" {
		role, perm = "admin", "manage"
	} else if g, ok := u.Grants[target]; ok {
		switch g {
		case "view", "edit", "manage":
			perm = g
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"role": role, "permission": perm})
}

// ---- request log ----

// RequestRecord is one request the origin received (management routes are
// not recorded).
type RequestRecord struct {
	Time       time.Time           `json:"time"`
	Method     string              `json:"method"`
	RequestURI string              `json:"requestURI"`
	Link       string              `json:"link"`    // X-Publink-Link
	HasLink    bool                `json:"hasLink"` // whether X-Publink-Link was present at all
	Timestamp  string              `json:"timestamp"`
	Signature  string              `json:"signature"`
	Verified   bool                `json:"verified"`
	Error      string              `json:"error,omitempty"`
	Status     int                 `json:"status"`
	Headers    map[string][]string `json:"headers,omitempty"` // other X-Publink-* headers
}

type ringLog struct {
	mu   sync.Mutex
	buf  []RequestRecord
	next int
	full bool
}

func newRingLog(n int) *ringLog { return &ringLog{buf: make([]RequestRecord, n)} }

func (l *ringLog) add(r RequestRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf[l.next] = r
	l.next++
	if l.next == len(l.buf) {
		l.next, l.full = 0, true
	}
}

func (l *ringLog) list() []RequestRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []RequestRecord{}
	if l.full {
		out = append(out, l.buf[l.next:]...)
	}
	return append(out, l.buf[:l.next]...)
}

func (l *ringLog) clear() {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.buf)
	l.next, l.full = 0, false
}

// Requests returns the recorded requests, oldest first.
func (s *Server) Requests() []RequestRecord { return s.reqs.list() }

// ClearRequests empties the request log.
func (s *Server) ClearRequests() { s.reqs.clear() }

func (s *Server) manageRequests(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"items": s.reqs.list()})
}

func (s *Server) manageClearRequests(w http.ResponseWriter, r *http.Request) {
	s.reqs.clear()
	w.WriteHeader(http.StatusNoContent)
}

// drain reads and discards a request body (bounded).
func drain(r io.Reader) { io.Copy(io.Discard, io.LimitReader(r, 1<<20)) }
