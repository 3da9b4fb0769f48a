package mediastore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/publink/publink/webhook"
)

// MaxUpload bounds PUT /manage/upload bodies.
const MaxUpload = 256 << 20

func randID(prefix string) string {
	b := make([]byte, 12)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// cleanPath validates a management path such as "/photos/2024" and returns
// it in canonical form ("/" for the root). It rejects "..", ".", empty and
// hidden segments, backslashes, NUL and control characters, and relative
// paths, so nothing can escape (or write sidecars inside) the media tree.
func cleanPath(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", errors.New("path must be absolute (start with /)")
	}
	if len(p) > 1024 {
		return "", errors.New("path too long")
	}
	for _, c := range p {
		if c == '\\' || c == 0 || c < 0x20 || c == 0x7f {
			return "", errors.New("path contains a forbidden character")
		}
	}
	t := strings.TrimSuffix(p, "/")
	if t == "" {
		return "/", nil
	}
	for _, seg := range strings.Split(t[1:], "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", errors.New("path has an empty, '.' or '..' segment")
		}
		if strings.HasPrefix(seg, ".") {
			return "", errors.New("path has a hidden segment")
		}
	}
	return t, nil
}

// mediaRel maps a clean virtual path to its location relative to the data dir.
func mediaRel(vpath string) string {
	if vpath == "/" {
		return "media"
	}
	return "media" + vpath
}

// event is a Standard Webhooks message to send after a mutation.
type event struct {
	typ  string
	data map[string]string
}

// mutate runs fn under the mutation lock, rescans, then sends the events fn
// returned (outside every lock, so a receiver may call back into the origin).
func (s *Server) mutate(w http.ResponseWriter, fn func(idx *index) (status int, body any, events []event, err error)) {
	s.mutMu.Lock()
	status, body, events, err := fn(s.idx.Load())
	if err == nil || len(events) > 0 {
		if rerr := s.Reload(); rerr != nil {
			s.logger.Printf("mediastore: reload after mutation: %v", rerr)
			if err == nil {
				status, err = http.StatusInternalServerError, rerr
			}
		}
	}
	s.mutMu.Unlock()
	if err != nil {
		if status == 0 {
			status = http.StatusInternalServerError
		}
		writeError(w, status, err.Error())
	} else if body == nil {
		w.WriteHeader(status)
	} else if fe, ok := body.(fileRef); ok {
		if f := s.idx.Load().files[string(fe)]; f != nil {
			writeJSON(w, status, f.obj)
		} else {
			writeError(w, http.StatusInternalServerError, "file vanished")
		}
	} else if fo, ok := body.(folderRef); ok {
		if f := s.idx.Load().folders[string(fo)]; f != nil {
			writeJSON(w, status, f.object())
		} else {
			writeError(w, http.StatusInternalServerError, "folder vanished")
		}
	} else {
		writeJSON(w, status, body)
	}
	for _, e := range events {
		s.sendEvent(e)
	}
}

type fileRef string
type folderRef string

func httpErr(status int, format string, a ...any) (int, any, []event, error) {
	return status, nil, nil, fmt.Errorf(format, a...)
}

func (s *Server) sendEvent(e event) {
	if s.cfg.WebhookURL == "" {
		return
	}
	id := randID("evt_")
	now := s.now()
	body, _ := json.Marshal(map[string]any{
		"id":         id,
		"type":       e.typ,
		"created_at": now.UTC().Format(time.RFC3339),
		"data":       e.data,
	})
	h, err := webhook.Headers(s.cfg.WebhookSecret, id, now, body)
	if err != nil {
		s.logger.Printf("mediastore: webhook %s: %v", e.typ, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.WebhookURL, bytes.NewReader(body))
	if err != nil {
		s.logger.Printf("mediastore: webhook %s: %v", e.typ, err)
		return
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		s.logger.Printf("mediastore: webhook %s %v: %v", e.typ, e.data, err)
		return
	}
	drain(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		s.logger.Printf("mediastore: webhook %s %v: receiver answered %s", e.typ, e.data, resp.Status)
		return
	}
	s.logger.Printf("mediastore: webhook %s %v delivered (%s)", e.typ, e.data, id)
}

func (s *Server) manageReload(w http.ResponseWriter, r *http.Request) {
	s.mutMu.Lock()
	err := s.Reload()
	s.mutMu.Unlock()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) manageDeleteFile(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("fileId")
	s.mutate(w, func(idx *index) (int, any, []event, error) {
		f := idx.files[id]
		if f == nil {
			return httpErr(http.StatusNotFound, "file not found")
		}
		if err := s.removeFile(f); err != nil {
			return httpErr(http.StatusInternalServerError, "delete: %v", err)
		}
		return http.StatusNoContent, nil, []event{{"file.deleted", map[string]string{"fileId": f.id}}}, nil
	})
}

// removeFile deletes a file, its sidecar and its old versions.
func (s *Server) removeFile(f *fileEntry) error {
	if err := s.root.Remove(f.rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := s.root.Remove(f.sideRel); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if validID(f.id) {
		s.root.RemoveAll(path.Join("versions", f.id))
	}
	return nil
}

func (s *Server) manageMoveFile(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("fileId")
	to, err := cleanPath(r.URL.Query().Get("to"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "to: "+err.Error())
		return
	}
	s.mutate(w, func(idx *index) (int, any, []event, error) {
		f := idx.files[id]
		if f == nil {
			return httpErr(http.StatusNotFound, "file not found")
		}
		if to == f.dir {
			return http.StatusOK, fileRef(f.id), nil, nil
		}
		if fi, err := s.root.Stat(mediaRel(to)); err == nil && !fi.IsDir() {
			return httpErr(http.StatusConflict, "destination is a file")
		}
		newRel := path.Join(mediaRel(to), path.Base(f.path))
		if _, err := s.root.Lstat(newRel); err == nil {
			return httpErr(http.StatusConflict, "a file with that name exists at the destination")
		}
		if _, err := s.root.Lstat(newRel + ".json"); err == nil {
			return httpErr(http.StatusConflict, "a sidecar with that name exists at the destination")
		}
		if err := s.root.MkdirAll(mediaRel(to), 0o755); err != nil {
			return httpErr(http.StatusInternalServerError, "mkdir: %v", err)
		}
		// Pin the file id in a sidecar before moving, so it survives the move
		// even when it was derived from the path.
		if err := s.ensureSidecar(f); err != nil {
			return httpErr(http.StatusInternalServerError, "sidecar: %v", err)
		}
		if err := s.root.Rename(f.rel, newRel); err != nil {
			return httpErr(http.StatusInternalServerError, "move: %v", err)
		}
		if err := s.root.Rename(f.sideRel, newRel+".json"); err != nil {
			return httpErr(http.StatusInternalServerError, "move sidecar: %v", err)
		}
		return http.StatusOK, fileRef(f.id), []event{{"file.moved", map[string]string{"fileId": f.id}}}, nil
	})
}

func (s *Server) ensureSidecar(f *fileEntry) error {
	if _, err := s.root.Stat(f.sideRel); err == nil {
		m, err := readJSONObject(s.dir + "/" + f.sideRel)
		if err != nil {
			return err
		}
		if id, _ := m["fileId"].(string); id == f.id {
			return nil
		}
		m["fileId"] = f.id
		return s.writeJSONFile(f.sideRel, m)
	}
	return s.writeJSONFile(f.sideRel, map[string]any{"fileId": f.id})
}

func (s *Server) writeJSONFile(rel string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return s.root.WriteFile(rel, append(b, '\n'), 0o644)
}

func (s *Server) managePatchFile(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("fileId")
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.UseNumber()
	var patch map[string]any
	if err := dec.Decode(&patch); err != nil || patch == nil {
		writeError(w, http.StatusBadRequest, "body must be a JSON object")
		return
	}
	for _, k := range []string{"fileId", "filePath", "type"} {
		if _, ok := patch[k]; ok {
			writeError(w, http.StatusBadRequest, k+" cannot be patched")
			return
		}
	}
	s.mutate(w, func(idx *index) (int, any, []event, error) {
		f := idx.files[id]
		if f == nil {
			return httpErr(http.StatusNotFound, "file not found")
		}
		m, err := readJSONObject(s.dir + "/" + f.sideRel)
		if errors.Is(err, fs.ErrNotExist) {
			m, err = map[string]any{"fileId": f.id}, nil
		}
		if err != nil {
			return httpErr(http.StatusInternalServerError, "sidecar: %v", err)
		}
		for k, v := range patch {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		if err := s.writeJSONFile(f.sideRel, m); err != nil {
			return httpErr(http.StatusInternalServerError, "write: %v", err)
		}
		return http.StatusOK, fileRef(f.id), nil, nil
	})
}

func (s *Server) manageUpload(w http.ResponseWriter, r *http.Request) {
	vpath, err := cleanPath(r.URL.Query().Get("path"))
	if err != nil || vpath == "/" {
		if err == nil {
			err = errors.New("a file name is required")
		}
		writeError(w, http.StatusBadRequest, "path: "+err.Error())
		return
	}
	if strings.HasSuffix(strings.ToLower(vpath), ".json") {
		writeError(w, http.StatusBadRequest, "path: names ending in .json are reserved for sidecars")
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxUpload))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "body: "+err.Error())
		return
	}
	s.mutate(w, func(idx *index) (int, any, []event, error) {
		rel := mediaRel(vpath)
		var events []event
		if fi, err := s.root.Lstat(rel); err == nil {
			if !fi.Mode().IsRegular() {
				return httpErr(http.StatusConflict, "a folder exists at that path")
			}
			for _, f := range idx.childFiles[path.Dir(vpath)] {
				if f.path == vpath {
					if err := s.removeFile(f); err != nil {
						return httpErr(http.StatusInternalServerError, "replace: %v", err)
					}
					events = append(events, event{"file.deleted", map[string]string{"fileId": f.id}})
				}
			}
		}
		if fi, err := s.root.Stat(mediaRel(path.Dir(vpath))); err == nil && !fi.IsDir() {
			return httpErr(http.StatusConflict, "parent is a file")
		}
		if err := s.root.MkdirAll(mediaRel(path.Dir(vpath)), 0o755); err != nil {
			return httpErr(http.StatusInternalServerError, "mkdir: %v", err)
		}
		now := formatTime(s.now())
		mt := mimeFor(vpath)
		id := randID("file_")
		side := map[string]any{
			"fileId":            id,
			"name":              path.Base(vpath),
			"tags":              []string{},
			"AITags":            nil,
			"versionInfo":       map[string]any{"id": randID("ver_"), "name": "Version 1"},
			"isPrivateFile":     false,
			"isPublished":       true,
			"customCoordinates": nil,
			"customMetadata":    map[string]any{},
			"embeddedMetadata":  map[string]any{},
			"fileType":          fileTypeFor(mt),
			"mime":              mt,
			"size":              len(data),
			"hasAlpha":          false,
			"createdAt":         now,
			"updatedAt":         now,
		}
		if wd, ht, alpha, ok := imageInfo(data); ok {
			side["width"], side["height"], side["hasAlpha"] = wd, ht, alpha
		}
		if err := s.root.WriteFile(rel, data, 0o644); err != nil {
			return 0, nil, events, fmt.Errorf("write: %v", err)
		}
		if err := s.writeJSONFile(rel+".json", side); err != nil {
			return 0, nil, events, fmt.Errorf("write sidecar: %v", err)
		}
		return http.StatusCreated, fileRef(id), events, nil
	})
}

// filesUnder lists the files in a folder's subtree.
func filesUnder(idx *index, dir string) []*fileEntry {
	var out []*fileEntry
	for _, f := range idx.files {
		if strings.HasPrefix(f.path, dir+"/") {
			out = append(out, f)
		}
	}
	return out
}

func (s *Server) manageDeleteFolder(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("folderId")
	s.mutate(w, func(idx *index) (int, any, []event, error) {
		fo := idx.folders[id]
		if fo == nil {
			return httpErr(http.StatusNotFound, "folder not found")
		}
		for _, f := range filesUnder(idx, fo.path) {
			if validID(f.id) {
				s.root.RemoveAll(path.Join("versions", f.id))
			}
		}
		if err := s.root.RemoveAll(fo.rel); err != nil {
			return httpErr(http.StatusInternalServerError, "delete: %v", err)
		}
		return http.StatusNoContent, nil, []event{{"folder.deleted", map[string]string{"folderId": fo.id}}}, nil
	})
}

func (s *Server) manageMoveFolder(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("folderId")
	to, err := cleanPath(r.URL.Query().Get("to"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "to: "+err.Error())
		return
	}
	s.mutate(w, func(idx *index) (int, any, []event, error) {
		fo := idx.folders[id]
		if fo == nil {
			return httpErr(http.StatusNotFound, "folder not found")
		}
		if to == path.Dir(fo.path) {
			return http.StatusOK, folderRef(fo.id), nil, nil
		}
		if to == fo.path || strings.HasPrefix(to, fo.path+"/") {
			return httpErr(http.StatusBadRequest, "cannot move a folder into itself")
		}
		if fi, err := s.root.Stat(mediaRel(to)); err == nil && !fi.IsDir() {
			return httpErr(http.StatusConflict, "destination is a file")
		}
		newRel := path.Join(mediaRel(to), fo.name)
		if _, err := s.root.Lstat(newRel); err == nil {
			return httpErr(http.StatusConflict, "destination exists")
		}
		if err := s.root.MkdirAll(mediaRel(to), 0o755); err != nil {
			return httpErr(http.StatusInternalServerError, "mkdir: %v", err)
		}
		// Pin ids derived from paths (this folder's, its subfolders' and its
		// files') so they survive the move.
		if err := s.pinFolder(fo); err != nil {
			return httpErr(http.StatusInternalServerError, "pin folder id: %v", err)
		}
		for _, sub := range idx.folders {
			if strings.HasPrefix(sub.path, fo.path+"/") {
				if err := s.pinFolder(sub); err != nil {
					return httpErr(http.StatusInternalServerError, "pin folder id: %v", err)
				}
			}
		}
		for _, f := range filesUnder(idx, fo.path) {
			if err := s.ensureSidecar(f); err != nil {
				return httpErr(http.StatusInternalServerError, "pin file id: %v", err)
			}
		}
		if err := s.root.Rename(fo.rel, newRel); err != nil {
			return httpErr(http.StatusInternalServerError, "move: %v", err)
		}
		return http.StatusOK, folderRef(fo.id), []event{{"folder.moved", map[string]string{"folderId": fo.id}}}, nil
	})
}

func (s *Server) pinFolder(fo *folderEntry) error {
	rel := path.Join(fo.rel, ".folder.json")
	if m, err := readJSONObject(s.dir + "/" + rel); err == nil {
		if id, _ := m["folderId"].(string); id == fo.id {
			return nil
		}
	}
	return s.writeJSONFile(rel, map[string]any{"folderId": fo.id, "createdAt": fo.created, "updatedAt": fo.updated})
}

func (s *Server) managePutCollection(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("collectionId")
	if !validID(id) {
		writeError(w, http.StatusBadRequest, "invalid collection id")
		return
	}
	var c struct {
		Name    string   `json:"name"`
		FileIDs []string `json:"fileIds"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&c); err != nil {
		writeError(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	if c.FileIDs == nil {
		c.FileIDs = []string{}
	}
	s.mutate(w, func(idx *index) (int, any, []event, error) {
		if err := s.root.MkdirAll("collections", 0o755); err != nil {
			return httpErr(http.StatusInternalServerError, "mkdir: %v", err)
		}
		out := map[string]any{"collectionId": id, "name": c.Name, "fileIds": c.FileIDs}
		if err := s.writeJSONFile("collections/"+id+".json", out); err != nil {
			return httpErr(http.StatusInternalServerError, "write: %v", err)
		}
		return http.StatusOK, out, nil, nil
	})
}

func (s *Server) manageDeleteCollection(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("collectionId")
	s.mutate(w, func(idx *index) (int, any, []event, error) {
		c := idx.collections[id]
		if c == nil {
			return httpErr(http.StatusNotFound, "collection not found")
		}
		if err := s.root.Remove(c.rel); err != nil {
			return httpErr(http.StatusInternalServerError, "delete: %v", err)
		}
		return http.StatusNoContent, nil, []event{{"collection.deleted", map[string]string{"collectionId": c.CollectionID}}}, nil
	})
}

func (s *Server) managePutPermissions(w http.ResponseWriter, r *http.Request) {
	var p permissions
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		writeError(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	s.mutate(w, func(idx *index) (int, any, []event, error) {
		if err := s.writeJSONFile("permissions.json", p); err != nil {
			return httpErr(http.StatusInternalServerError, "write: %v", err)
		}
		return http.StatusOK, p, nil, nil
	})
}
