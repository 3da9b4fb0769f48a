package mediastore

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/gif"  // register decoders for DecodeConfig / Decode
	_ "image/jpeg" // register decoders for DecodeConfig / Decode
	_ "image/png"  // register decoders for DecodeConfig / Decode
	"io/fs"
	"log"
	"mime"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// timeLayout is ImageKit's timestamp format.
const timeLayout = "2006-01-02T15:04:05.000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// fileEntry is one media file in the index. obj is the complete file object
// served by the origin API; the index never mutates it after building.
type fileEntry struct {
	id        string
	obj       map[string]any
	rel       string // slash path relative to the data dir, e.g. media/photos/sunset.png
	sideRel   string // rel + ".json"
	path      string // /photos/sunset.png
	dir       string // /photos ("/" for the root)
	name      string // display name
	mime      string
	versionID string
	updated   time.Time
}

type folderEntry struct {
	id      string
	name    string
	path    string // /photos/2024
	rel     string // media/photos/2024
	created string
	updated string
}

func (f *folderEntry) object() map[string]any {
	return map[string]any{
		"type":       "folder",
		"folderId":   f.id,
		"name":       f.name,
		"folderPath": f.path,
		"createdAt":  f.created,
		"updatedAt":  f.updated,
	}
}

type collection struct {
	CollectionID string   `json:"collectionId"`
	Name         string   `json:"name"`
	FileIDs      []string `json:"fileIds"`
	rel          string
}

type permUser struct {
	Role   string            `json:"role"`
	Grants map[string]string `json:"grants,omitempty"`
}

type permissions struct {
	Users map[string]permUser `json:"users"`
}

// index is an immutable snapshot of the data directory.
type index struct {
	files        map[string]*fileEntry
	folders      map[string]*folderEntry
	folderByPath map[string]*folderEntry // "/" is the root (id "")
	childFolders map[string][]*folderEntry
	childFiles   map[string][]*fileEntry
	collections  map[string]*collection
	perms        permissions
}

func stableID(prefix, s string) string {
	sum := sha256.Sum256([]byte(s))
	return prefix + hex.EncodeToString(sum[:8])
}

var extMime = map[string]string{
	".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
	".webp": "image/webp", ".svg": "image/svg+xml", ".avif": "image/avif",
	".txt": "text/plain", ".html": "text/html", ".htm": "text/html", ".pdf": "application/pdf",
	".mp4": "video/mp4", ".webm": "video/webm", ".mp3": "audio/mpeg", ".json": "application/json",
	".xml": "application/xml", ".zip": "application/zip",
}

func mimeFor(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if m, ok := extMime[ext]; ok {
		return m
	}
	if m := mime.TypeByExtension(ext); m != "" {
		return m
	}
	return "application/octet-stream"
}

func fileTypeFor(m string) string {
	if strings.HasPrefix(m, "image/") {
		return "image"
	}
	return "non-image"
}

// imageInfo reads width, height and whether the colour model carries alpha.
func imageInfo(b []byte) (w, h int, alpha bool, ok bool) {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return 0, 0, false, false
	}
	if cfg.ColorModel != nil {
		// A model without alpha turns a fully transparent colour opaque.
		_, _, _, a := cfg.ColorModel.Convert(transparentProbe{}).RGBA()
		alpha = a == 0
	}
	return cfg.Width, cfg.Height, alpha, true
}

// transparentProbe is fully transparent; a model without alpha returns an
// opaque colour for it.
type transparentProbe struct{}

func (transparentProbe) RGBA() (r, g, b, a uint32) { return 0, 0, 0, 0 }

func readJSONObject(p string) (map[string]any, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("sidecar is not a JSON object")
	}
	return m, nil
}

// load scans dataDir into a fresh index.
func load(dataDir string, logger *log.Logger) (*index, error) {
	idx := &index{
		files:        map[string]*fileEntry{},
		folders:      map[string]*folderEntry{},
		folderByPath: map[string]*folderEntry{},
		childFolders: map[string][]*folderEntry{},
		childFiles:   map[string][]*fileEntry{},
		collections:  map[string]*collection{},
	}
	mediaDir := filepath.Join(dataDir, "media")
	err := filepath.WalkDir(mediaDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		relToMedia, _ := filepath.Rel(mediaDir, p)
		relToMedia = filepath.ToSlash(relToMedia)
		if relToMedia == "." {
			idx.folderByPath["/"] = &folderEntry{path: "/", rel: "media"}
			return nil
		}
		name := d.Name()
		if strings.HasPrefix(name, ".") || d.Type()&fs.ModeSymlink != 0 {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		vpath := "/" + relToMedia
		if d.IsDir() {
			fe := &folderEntry{name: name, path: vpath, rel: "media/" + relToMedia}
			info, _ := d.Info()
			if info != nil {
				fe.created = formatTime(info.ModTime())
				fe.updated = fe.created
			}
			if m, err := readJSONObject(filepath.Join(p, ".folder.json")); err == nil {
				if s, ok := m["folderId"].(string); ok && s != "" {
					fe.id = s
				}
				if s, ok := m["createdAt"].(string); ok {
					fe.created = s
				}
				if s, ok := m["updatedAt"].(string); ok {
					fe.updated = s
				}
			} else if !errors.Is(err, fs.ErrNotExist) {
				logger.Printf("mediastore: bad folder sidecar %s: %v", p, err)
			}
			if fe.id == "" {
				fe.id = stableID("fld_", vpath)
			}
			if _, dup := idx.folders[fe.id]; dup {
				logger.Printf("mediastore: duplicate folderId %q at %s ignored", fe.id, vpath)
				return filepath.SkipDir
			}
			idx.folders[fe.id] = fe
			idx.folderByPath[vpath] = fe
			parent := path.Dir(vpath)
			idx.childFolders[parent] = append(idx.childFolders[parent], fe)
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		// A file X.json is X's sidecar when X exists.
		if base, ok := strings.CutSuffix(p, ".json"); ok {
			if st, err := os.Lstat(base); err == nil && st.Mode().IsRegular() {
				return nil
			}
		}
		fe, err := loadFile(p, vpath, "media/"+relToMedia)
		if err != nil {
			logger.Printf("mediastore: skipping %s: %v", p, err)
			return nil
		}
		if _, dup := idx.files[fe.id]; dup {
			logger.Printf("mediastore: duplicate fileId %q at %s ignored", fe.id, vpath)
			return nil
		}
		idx.files[fe.id] = fe
		idx.childFiles[fe.dir] = append(idx.childFiles[fe.dir], fe)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, l := range idx.childFolders {
		sort.Slice(l, func(i, j int) bool { return l[i].name < l[j].name })
	}
	for _, l := range idx.childFiles {
		sort.Slice(l, func(i, j int) bool {
			if l[i].name != l[j].name {
				return l[i].name < l[j].name
			}
			return l[i].path < l[j].path
		})
	}

	colDir := filepath.Join(dataDir, "collections")
	ents, err := os.ReadDir(colDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(colDir, e.Name()))
		if err != nil {
			return nil, err
		}
		var c collection
		if err := json.Unmarshal(b, &c); err != nil {
			logger.Printf("mediastore: bad collection %s: %v", e.Name(), err)
			continue
		}
		if c.CollectionID == "" {
			c.CollectionID = strings.TrimSuffix(e.Name(), ".json")
		}
		c.rel = "collections/" + e.Name()
		idx.collections[c.CollectionID] = &c
	}

	if b, err := os.ReadFile(filepath.Join(dataDir, "permissions.json")); err == nil {
		if err := json.Unmarshal(b, &idx.perms); err != nil {
			return nil, fmt.Errorf("permissions.json: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return idx, nil
}

func loadFile(p, vpath, rel string) (*fileEntry, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	obj, err := readJSONObject(p + ".json")
	if errors.Is(err, fs.ErrNotExist) {
		obj, err = map[string]any{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sidecar: %w", err)
	}
	diskName := path.Base(vpath)
	fe := &fileEntry{path: vpath, dir: path.Dir(vpath), rel: rel, sideRel: rel + ".json"}
	id, _ := obj["fileId"].(string)
	if id == "" {
		id = stableID("file_", vpath)
	}
	fe.id = id
	obj["fileId"] = id
	obj["type"] = "file"
	obj["filePath"] = vpath
	name, _ := obj["name"].(string)
	if name == "" {
		name = diskName
	}
	fe.name = name
	obj["name"] = name
	if _, ok := obj["size"]; !ok {
		obj["size"] = st.Size()
	}
	m, _ := obj["mime"].(string)
	if m == "" {
		m = mimeFor(diskName)
		obj["mime"] = m
	}
	fe.mime = m
	if _, ok := obj["fileType"]; !ok {
		obj["fileType"] = fileTypeFor(m)
	}
	if _, ok := obj["createdAt"]; !ok {
		obj["createdAt"] = formatTime(st.ModTime())
	}
	if _, ok := obj["updatedAt"]; !ok {
		obj["updatedAt"] = formatTime(st.ModTime())
	}
	fe.updated = st.ModTime()
	if s, ok := obj["updatedAt"].(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			fe.updated = t
		}
	}
	vi, _ := obj["versionInfo"].(map[string]any)
	if vi == nil {
		vi = map[string]any{}
		obj["versionInfo"] = vi
	}
	vid, _ := vi["id"].(string)
	if vid == "" {
		vid = stableID("ver_", fmt.Sprintf("%s|%d|%d", vpath, st.Size(), st.ModTime().UnixNano()))
		vi["id"] = vid
		if _, ok := vi["name"]; !ok {
			vi["name"] = "Version 1"
		}
	}
	fe.versionID = vid
	if _, ok := obj["isPublished"]; !ok {
		obj["isPublished"] = true
	}
	if _, ok := obj["isPrivateFile"]; !ok {
		obj["isPrivateFile"] = false
	}
	if strings.HasPrefix(m, "image/") {
		_, hw := obj["width"]
		_, hh := obj["height"]
		if !hw || !hh {
			if b, err := os.ReadFile(p); err == nil {
				if w, h, a, ok := imageInfo(b); ok {
					obj["width"], obj["height"] = w, h
					if _, ok := obj["hasAlpha"]; !ok {
						obj["hasAlpha"] = a
					}
				}
			}
		}
	}
	if _, ok := obj["hasAlpha"]; !ok {
		obj["hasAlpha"] = false
	}
	fe.obj = obj
	return fe, nil
}
