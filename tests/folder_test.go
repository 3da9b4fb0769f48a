package tests

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// jsonAccept asks the gateway for JSON errors.
var jsonAccept = map[string]string{"Accept": "application/json"}

// folderListing is the visitor listing JSON, decoded loosely enough to see
// fields that should not be there.
type folderListing struct {
	Type    string              `json:"type"`
	Name    string              `json:"name"`
	Path    string              `json:"path"`
	Folders []map[string]string `json:"folders"`
	Files   []map[string]any    `json:"files"`
}

func (e *Env) listing(t *testing.T, token, rawQuery string) folderListing {
	t.Helper()
	p := "/s/" + token + "/files"
	if rawQuery != "" {
		p += "?" + rawQuery
	}
	r := e.Get(p, jsonAccept)
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", p, r.Status, r.Body)
	}
	sentinelFree(t, p, r)
	var l folderListing
	r.JSON(t, &l)
	return l
}

func fileIDs(l folderListing) []string {
	var ids []string
	for _, f := range l.Files {
		ids = append(ids, f["fileId"].(string))
	}
	slices.Sort(ids)
	return ids
}

// wantFileRoutes checks a file's three routes all answer status.
func (e *Env) wantFileRoutes(t *testing.T, token, fileID string, status int) {
	t.Helper()
	for _, suffix := range []string{"", "/content", "/thumbnail"} {
		p := "/s/" + token + "/files/" + fileID + suffix
		if r := e.Get(p, jsonAccept); r.Status != status {
			t.Errorf("GET %s: %d, want %d", p, r.Status, status)
		} else if status == http.StatusOK {
			sentinelFree(t, p, r)
		}
	}
}

// originSaw reports origin requests whose URI contains any of needles.
func (e *Env) originSaw(needles ...string) []string {
	var hits []string
	for _, req := range e.OriginRequests() {
		u, _ := url.QueryUnescape(req.RequestURI)
		for _, n := range needles {
			if strings.Contains(req.RequestURI, n) || strings.Contains(u, n) {
				hits = append(hits, req.Method+" "+req.RequestURI)
				break
			}
		}
	}
	return hits
}

// TestFolderAndCollectionScope attacks a folder link and a collection link:
// only descendants (or members) are served, and no traversal, encoding or
// look-alike prefix reaches anything else, at the gateway or the origin.
func TestFolderAndCollectionScope(t *testing.T) {
	stores(t, func(t *testing.T, o Options) {
		e := NewEnv(t, o)
		photos := e.CreateLink(map[string]any{"target": linkTarget("folder", "fld_photos")})
		tok := photos.Token

		// Descendants, at any depth.
		for _, id := range []string{"file_sunset", "file_private", "file_beach"} {
			e.wantFileRoutes(t, tok, id, http.StatusOK)
		}
		// Siblings, the look-alike /photos2, the parent's other folders,
		// and a draft without exposeUnpublished.
		for _, id := range []string{"file_other", "file_readme", "file_svg", "file_page", "file_hostile", "file_draft", "file_nope"} {
			e.wantFileRoutes(t, tok, id, http.StatusNotFound)
		}
		if hits := e.originSaw("/content", "/thumbnail"); len(hits) > 0 {
			for _, h := range hits {
				if strings.Contains(h, "other") || strings.Contains(h, "readme") || strings.Contains(h, "svg") ||
					strings.Contains(h, "page") || strings.Contains(h, "hostile") || strings.Contains(h, "draft") {
					t.Errorf("origin was asked for out-of-scope bytes: %s", h)
				}
			}
		}

		// Listing below the shared folder.
		sub := e.listing(t, tok, "path=2024")
		if sub.Type != "folder" || sub.Name != "2024" || sub.Path != "2024" || !slices.Equal(fileIDs(sub), []string{"file_beach"}) {
			t.Errorf("listing 2024: %+v", sub)
		}
		if l := e.listing(t, tok, "path=%2F2024%2F"); l.Path != "2024" || !slices.Equal(fileIDs(l), []string{"file_beach"}) {
			t.Errorf("listing /2024/: %+v", l)
		}

		// Paths that try to leave the folder, or are malformed, are refused
		// before the origin is asked anything.
		e.Manage(http.MethodDelete, "/manage/requests", nil)
		refused := []string{
			"path=..", "path=../docs", "path=..%2fdocs", "path=..%2Fphotos2", "path=%2e%2e", "path=%2e%2e%2fdocs",
			"path=2024%2f..%2f..%2fdocs", "path=2024/../../docs", "path=.", "path=./2024", "path=2024%2f.",
			"path=%252e%252e", "path=%252e%252e%252fdocs", "path=..%5cdocs", "path=%5c..%5cdocs", "path=2024%5c",
			"path=%00", "path=2024%00", "path=2024%00..", "path=2024%0a", "path=2024%2f%2fx", "path=%ff%fe",
			"path=%c0%ae%c0%ae", "path=" + strings.Repeat("a%2f", 600) + "a", "path=" + strings.Repeat("x", 5000),
		}
		for _, q := range refused {
			p := "/s/" + tok + "/files?" + q
			r := e.Get(p, jsonAccept)
			if r.Status != http.StatusNotFound && r.Status != http.StatusBadRequest {
				t.Errorf("GET %s: %d %.200s", p, r.Status, r.Body)
			}
			if r.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("GET %s: Cache-Control %q", p, r.Header.Get("Cache-Control"))
			}
		}
		// %252e%252e decodes once to the literal folder name "%2e%2e",
		// which is refused above only if it were a dot segment; it is
		// not, so it may be asked for inside /photos, never outside.
		for _, req := range e.OriginRequests() {
			u, _ := url.QueryUnescape(req.RequestURI)
			if strings.Contains(u, "..") || strings.Contains(u, "docs") || strings.Contains(u, "photos2") ||
				strings.Contains(u, "\\") || strings.Contains(u, "\x00") || (strings.Contains(u, "path=") && !strings.Contains(u, "path=/photos")) {
				t.Errorf("origin saw %s", req.RequestURI)
			}
		}

		// File ids that are not plain ids never reach the origin.
		e.Manage(http.MethodDelete, "/manage/requests", nil)
		for _, id := range []string{"..%2ffile_readme", "..%2Ffile_readme", "file_readme%00", "%66ile_readme", "file_readme%2f",
			"file%5freadme", "%2e%2e", "..", "file_sunset%2f..%2ffile_readme", "file_readme;x", "file_readme%20", "FILE_README%00"} {
			for _, suffix := range []string{"", "/content", "/thumbnail"} {
				p := "/s/" + tok + "/files/" + id + suffix
				if r := e.rawGet(p, jsonAccept); r.Status != http.StatusNotFound && r.Status != http.StatusBadRequest {
					t.Errorf("GET %s: %d", p, r.Status)
				}
			}
		}
		if hits := e.originSaw("readme", ".."); len(hits) > 0 {
			t.Errorf("origin saw %v", hits)
		}

		// The look-alike sibling's own link sees only its own file.
		p2 := e.CreateLink(map[string]any{"target": linkTarget("folder", "fld_photos2")})
		if l := e.listing(t, p2.Token, ""); !slices.Equal(fileIDs(l), []string{"file_other"}) || len(l.Folders) != 0 {
			t.Errorf("photos2 listing: %+v", l)
		}
		e.wantFileRoutes(t, p2.Token, "file_sunset", http.StatusNotFound)
		e.wantFileRoutes(t, p2.Token, "file_other", http.StatusOK)

		// A collection serves its published members, wherever they live.
		col := e.CreateLink(map[string]any{"target": linkTarget("collection", "col_summer")})
		for _, id := range []string{"file_sunset", "file_other", "file_beach"} {
			e.wantFileRoutes(t, col.Token, id, http.StatusOK)
		}
		for _, id := range []string{"file_draft", "file_private", "file_readme", "file_svg"} {
			e.wantFileRoutes(t, col.Token, id, http.StatusNotFound)
		}
		if r := e.Get("/s/"+col.Token+"/files?path=2024", jsonAccept); r.Status != http.StatusNotFound {
			t.Errorf("collection ?path=2024: %d", r.Status)
		}
		// A file link has no sub-paths either.
		fl := e.FileLink("file_sunset")
		if r := e.Get("/s/"+fl.Token+"/files?path=2024", jsonAccept); r.Status != http.StatusNotFound {
			t.Errorf("file link ?path=2024: %d", r.Status)
		}
	})
}

// TestUnpublishedFilesInFoldersAndCollections: drafts are absent from
// listings and zips and 404 on their routes unless the link exposes them;
// a file link always serves its file.
func TestUnpublishedFilesInFoldersAndCollections(t *testing.T) {
	e := NewEnv(t, Options{})
	for _, tgt := range []map[string]any{linkTarget("folder", "fld_photos"), linkTarget("collection", "col_summer")} {
		hidden := e.CreateLink(map[string]any{"target": tgt})
		shown := e.CreateLink(map[string]any{"target": tgt, "exposeUnpublished": true})

		if ids := fileIDs(e.listing(t, hidden.Token, "")); slices.Contains(ids, "file_draft") {
			t.Errorf("%v: draft listed without exposeUnpublished: %v", tgt, ids)
		}
		e.wantFileRoutes(t, hidden.Token, "file_draft", http.StatusNotFound)
		if names := zipNamesOf(t, e.fetchZip(t, nil, hidden.Token)); slices.Contains(names, "draft.png") {
			t.Errorf("%v: draft zipped without exposeUnpublished: %v", tgt, names)
		}

		if ids := fileIDs(e.listing(t, shown.Token, "")); !slices.Contains(ids, "file_draft") {
			t.Errorf("%v: draft not listed with exposeUnpublished: %v", tgt, ids)
		}
		e.wantFileRoutes(t, shown.Token, "file_draft", http.StatusOK)
		if names := zipNamesOf(t, e.fetchZip(t, nil, shown.Token)); !slices.Contains(names, "draft.png") {
			t.Errorf("%v: draft not zipped with exposeUnpublished: %v", tgt, names)
		}
	}
	fl := e.FileLink("file_draft")
	e.wantFileRoutes(t, fl.Token, "file_draft", http.StatusOK)
	if names := zipNamesOf(t, e.fetchZip(t, nil, fl.Token)); !slices.Equal(names, []string{"draft.png"}) {
		t.Errorf("file link zip of a draft: %v", names)
	}
}

// TestListingShape pins the listing JSON: paths relative to the shared
// folder, never the origin's absolute path or any forbidden field.
func TestListingShape(t *testing.T) {
	e := NewEnv(t, Options{})
	photos := e.CreateLink(map[string]any{"target": linkTarget("folder", "fld_photos")})
	r := e.Get("/s/"+photos.Token+"/files", jsonAccept)
	sentinelFree(t, "listing", r)
	var raw map[string]json.RawMessage
	r.JSON(t, &raw)
	var keys []string
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"files", "folders", "name", "path", "type"}) {
		t.Errorf("listing keys %v", keys)
	}
	root := e.listing(t, photos.Token, "")
	if root.Type != "folder" || root.Name != "photos" || root.Path != "" {
		t.Errorf("root listing %q %q %q", root.Type, root.Name, root.Path)
	}
	if len(root.Folders) != 1 || root.Folders[0]["name"] != "2024" || root.Folders[0]["path"] != "2024" || len(root.Folders[0]) != 2 {
		t.Errorf("folders %v", root.Folders)
	}
	paths := map[string]string{}
	for _, l := range []folderListing{root, e.listing(t, photos.Token, "path=2024")} {
		for _, f := range l.Files {
			p, _ := f["path"].(string)
			paths[f["fileId"].(string)] = p
			for _, k := range []string{"filePath", "url", "thumbnail", "tags", "versionInfo", "isPublished", "isPrivateFile", "customMetadata"} {
				if _, ok := f[k]; ok {
					t.Errorf("file %v has %q", f["fileId"], k)
				}
			}
			cu, _ := f["contentUrl"].(string)
			if !strings.HasPrefix(cu, e.GatewayURL+"/s/"+photos.Token+"/files/") {
				t.Errorf("contentUrl %q", cu)
			}
		}
	}
	want := map[string]string{"file_sunset": "sunset.png", "file_private": "private.png", "file_beach": "2024/beach.png"}
	for id, p := range want {
		if paths[id] != p {
			t.Errorf("%s path %q, want %q", id, paths[id], p)
		}
	}
	if len(paths) != len(want) {
		t.Errorf("files %v", paths)
	}
	if r := e.Get("/s/"+photos.Token+"/files/file_beach", jsonAccept); !strings.Contains(string(r.Body), `"path":"2024/beach.png"`) ||
		strings.Contains(string(r.Body), "/photos") {
		t.Errorf("file JSON %s", r.Body)
	}

	col := e.listing(t, e.CreateLink(map[string]any{"target": linkTarget("collection", "col_summer")}).Token, "")
	if col.Type != "collection" || col.Name != "Summer picks" || col.Path != "" || len(col.Folders) != 0 {
		t.Errorf("collection listing %+v", col)
	}
	for _, f := range col.Files {
		if _, ok := f["path"]; ok {
			t.Errorf("collection file has a path: %v", f)
		}
	}
	fl := e.listing(t, e.FileLink("file_sunset").Token, "")
	if fl.Type != "file" || fl.Name != "sunset.png" || !slices.Equal(fileIDs(fl), []string{"file_sunset"}) {
		t.Errorf("file listing %+v", fl)
	}
}
