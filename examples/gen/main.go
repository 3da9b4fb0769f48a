// Command gen writes publink's demo origin data set (the layout mediastore
// serves) deterministically:
//
//	go run ./examples/gen -out examples/demo
//
// It replaces out/media, out/versions, out/collections and
// out/permissions.json and touches nothing else. Tests depend on the ids and
// sentinel strings written here; see examples/README.md.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log"
	"os"
	"path/filepath"
)

const (
	created = "2024-06-01T18:00:00.000Z"
	updated = "2024-06-02T10:00:00.000Z"
)

func main() {
	out := flag.String("out", "examples/demo", "output directory")
	flag.Parse()
	if err := run(*out); err != nil {
		log.Fatal(err)
	}
}

// pngImage draws a deterministic w×h picture: horizontal bands of c1/c2 with
// a diagonal of c3, optionally with a transparent corner.
func pngImage(w, h int, c1, c2, c3 color.NRGBA, alpha bool) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := c1
			if (y/8)%2 == 1 {
				c = c2
			}
			if x*h/w == y {
				c = c3
			}
			if alpha && x < w/4 && y < h/4 {
				c = color.NRGBA{0, 0, 0, 0}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, img); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

type file struct {
	id, path, mime, fileType string
	name                     string // display name override ("" = disk name)
	data                     []byte
	w, h                     int
	alpha                    bool
	published, private       bool
	version                  string
	embedded                 map[string]any
}

func sidecar(f file) map[string]any {
	id := f.id
	m := map[string]any{
		"fileId":            id,
		"tags":              []string{"SENTINEL_TAG_" + id},
		"AITags":            []map[string]any{{"name": "SENTINEL_AITAG_" + id, "confidence": 90, "source": "google-auto-tagging"}},
		"versionInfo":       map[string]any{"id": f.version, "name": "SENTINEL_VERSION_" + id},
		"isPrivateFile":     f.private,
		"isPublished":       f.published,
		"customCoordinates": "SENTINEL_COORDS_" + id,
		"customMetadata":    map[string]any{"secretNote": "SENTINEL_CUSTOM_" + id},
		"embeddedMetadata":  f.embedded,
		"url":               "https://SENTINEL-URL.example/" + id,
		"thumbnail":         "https://SENTINEL-THUMB.example/" + id,
		"fileType":          f.fileType,
		"mime":              f.mime,
		"size":              len(f.data),
		"hasAlpha":          f.alpha,
		"createdAt":         created,
		"updatedAt":         updated,
		"createdBy":         "SENTINEL_OWNER_" + id,
		"description":       "SENTINEL_DESC_" + id,
		"comments":          []map[string]any{{"text": "SENTINEL_COMMENT_" + id}},
		"internalScore":     "SENTINEL_EXTRA_" + id,
	}
	if f.name != "" {
		m["name"] = f.name
	} else {
		m["name"] = filepath.Base(f.path)
	}
	if f.w > 0 {
		m["width"], m["height"] = f.w, f.h
	}
	return m
}

func writeJSON(p string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return write(p, append(b, '\n'))
}

func write(p string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, b, 0o644)
}

func run(out string) error {
	for _, p := range []string{"media", "versions", "collections", "permissions.json"} {
		if err := os.RemoveAll(filepath.Join(out, p)); err != nil {
			return err
		}
	}
	cam := func() map[string]any {
		return map[string]any{"Make": "DemoCam", "Model": "X1", "DateTimeOriginal": "2024:06:01 18:00:00"}
	}
	orange := color.NRGBA{0xf5, 0x8b, 0x2a, 0xff}
	red := color.NRGBA{0xc0, 0x30, 0x30, 0xff}
	yellow := color.NRGBA{0xff, 0xe0, 0x60, 0xff}
	blue := color.NRGBA{0x30, 0x80, 0xd0, 0xff}
	sand := color.NRGBA{0xe8, 0xd0, 0x9a, 0xff}
	grey := color.NRGBA{0x80, 0x80, 0x80, 0xff}
	green := color.NRGBA{0x40, 0xa0, 0x50, 0xff}
	purple := color.NRGBA{0x80, 0x40, 0xa0, 0xff}

	svg := []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100" viewBox="0 0 100 100">
  <circle cx="50" cy="50" r="40" fill="#3080d0"/>
  <script>alert('svg script ran: SENTINEL_SVG_SCRIPT')</script>
</svg>
`)
	page := []byte(`<!doctype html>
<html><head><title>Demo page</title></head>
<body><h1>Demo page</h1>
<script>alert('html script ran: SENTINEL_HTML_SCRIPT'); document.cookie</script>
</body></html>
`)
	readme := []byte("publink demo readme.\nThis text file is served as text/plain.\n0123456789abcdefghijklmnopqrstuvwxyz\n")

	files := []file{
		{id: "file_sunset", path: "/photos/sunset.png", data: pngImage(64, 48, orange, red, yellow, false), w: 64, h: 48, published: true, version: "ver_current", embedded: cam()},
		{id: "file_beach", path: "/photos/2024/beach.png", data: pngImage(320, 240, blue, sand, yellow, false), w: 320, h: 240, published: true, version: "ver_beach_1", embedded: cam()},
		{id: "file_draft", path: "/photos/draft.png", data: pngImage(32, 32, grey, green, red, true), w: 32, h: 32, alpha: true, published: false, version: "ver_draft_1", embedded: cam()},
		{id: "file_private", path: "/photos/private.png", data: pngImage(40, 30, purple, grey, yellow, false), w: 40, h: 30, published: true, private: true, version: "ver_private_1", embedded: cam()},
		{id: "file_other", path: "/photos2/other.png", data: pngImage(48, 48, green, sand, blue, false), w: 48, h: 48, published: true, version: "ver_other_1", embedded: cam()},
		{id: "file_readme", path: "/docs/readme.txt", mime: "text/plain", fileType: "non-image", data: readme, published: true, version: "ver_readme_1", embedded: map[string]any{}},
		{id: "file_svg", path: "/docs/logo.svg", mime: "image/svg+xml", fileType: "image", data: svg, w: 100, h: 100, published: true, version: "ver_svg_1", embedded: map[string]any{}},
		{id: "file_page", path: "/docs/page.html", mime: "text/html", fileType: "non-image", data: page, published: true, version: "ver_page_1", embedded: map[string]any{}},
		{id: "file_hostile", path: "/docs/hostile.png", name: `<img src=x onerror=alert(1)>"é.png`, data: pngImage(16, 16, red, yellow, blue, false), w: 16, h: 16, published: true, version: "ver_hostile_1", embedded: map[string]any{"Artist": "<script>alert('x')</script>"}},
	}
	for _, f := range files {
		if f.mime == "" {
			f.mime, f.fileType = "image/png", "image"
		}
		p := filepath.Join(out, "media", filepath.FromSlash(f.path))
		if err := write(p, f.data); err != nil {
			return err
		}
		if err := writeJSON(p+".json", sidecar(f)); err != nil {
			return err
		}
	}

	folders := map[string]string{"/photos": "fld_photos", "/photos/2024": "fld_photos_2024", "/photos2": "fld_photos2", "/docs": "fld_docs"}
	for p, id := range folders {
		if err := writeJSON(filepath.Join(out, "media", filepath.FromSlash(p), ".folder.json"),
			map[string]any{"folderId": id, "createdAt": created, "updatedAt": updated}); err != nil {
			return err
		}
	}

	old := append(pngImage(64, 48, blue, green, purple, false), []byte("OLDVERSIONBYTES")...)
	if err := write(filepath.Join(out, "versions", "file_sunset", "ver_old"), old); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(out, "versions", "file_sunset", "ver_old.json"), map[string]any{
		"versionInfo": map[string]any{"id": "ver_old", "name": "Version 1"},
		"createdAt":   "2024-05-01T09:00:00.000Z",
		"updatedAt":   "2024-05-01T09:00:00.000Z",
	}); err != nil {
		return err
	}

	cols := []map[string]any{
		{"collectionId": "col_summer", "name": "Summer picks", "fileIds": []string{"file_sunset", "file_other", "file_draft", "file_beach"}},
		{"collectionId": "col_empty", "name": "Empty collection", "fileIds": []string{}},
	}
	for _, c := range cols {
		if err := writeJSON(filepath.Join(out, "collections", c["collectionId"].(string)+".json"), c); err != nil {
			return err
		}
	}

	perms := map[string]any{"users": map[string]any{
		"alice": map[string]any{"role": "admin"},
		"bob": map[string]any{"role": "restricted", "grants": map[string]string{
			"folder:fld_photos": "manage", "file:file_sunset": "manage", "collection:col_summer": "manage",
		}},
		"carol": map[string]any{"role": "restricted", "grants": map[string]string{
			"file:file_sunset": "edit", "folder:fld_photos": "view",
		}},
	}}
	if err := writeJSON(filepath.Join(out, "permissions.json"), perms); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "gen: wrote demo data to %s\n", out)
	return nil
}
