package policy

// Benchmarks of the per-request policy decisions (issue 7):
// go test -run '^$' -bench . -benchmem ./policy

import (
	"encoding/json"
	"testing"
	"time"
)

func BenchmarkFileVisible(b *testing.B) {
	folder := &Link{Target: Target{Type: TargetFolder, ID: "fld_photos"}}
	col := &Link{Target: Target{Type: TargetCollection, ID: "col_summer"}, ExposeUnpublished: true}
	scope := Scope{FolderPath: "/photos"}
	inside := FileFacts{FileID: "file_beach", FilePath: "/photos/2024/beach.png", Published: true}
	sibling := FileFacts{FileID: "file_other", FilePath: "/photos2/other.png", Published: true}
	member := FileFacts{FileID: "file_draft", FilePath: "/photos/draft.png", Member: true}
	b.ReportAllocs()
	for b.Loop() {
		if !FileVisible(folder, scope, inside) || FileVisible(folder, scope, sibling) || !FileVisible(col, Scope{}, member) {
			b.Fatal("wrong decision")
		}
	}
}

func BenchmarkCacheControl(b *testing.B) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	until := now.Add(30 * time.Second)
	public := &Link{}
	expiring := &Link{ValidUntil: &until}
	protected := &Link{PasswordHash: "x"}
	b.ReportAllocs()
	for b.Loop() {
		if CacheControl(public, now, time.Minute) != "public, max-age=60" ||
			CacheControl(expiring, now, time.Minute) != "public, max-age=30" ||
			CacheControl(protected, now, time.Minute) != "private, no-store" {
			b.Fatal("wrong header")
		}
	}
}

// benchRaw is an ImageKit-shaped file object decoded one level, as the
// origin client keeps it.
func benchRaw(b *testing.B) map[string]json.RawMessage {
	obj := `{"fileId":"file_sunset","type":"file","name":"sunset.png","filePath":"/photos/sunset.png",
	"tags":["SENTINEL_TAG"],"AITags":[{"name":"SENTINEL_AITAG","confidence":90}],"versionInfo":{"id":"v1","name":"SENTINEL_VERSION"},
	"isPrivateFile":false,"isPublished":true,"customCoordinates":"SENTINEL_COORDS","customMetadata":{"k":"SENTINEL_CUSTOM"},
	"embeddedMetadata":{"Make":"DemoCam","Model":"X1","DateTimeOriginal":"2024:06:01 18:00:00"},
	"url":"https://SENTINEL-URL.example/x","thumbnail":"https://SENTINEL-THUMB.example/x","fileType":"image","mime":"image/png",
	"width":64,"height":48,"size":1234,"hasAlpha":false,"createdAt":"2024-06-01T18:00:00.000Z","updatedAt":"2024-06-02T10:00:00.000Z",
	"createdBy":"SENTINEL_OWNER","description":"SENTINEL_DESC","comments":[{"text":"SENTINEL_COMMENT"}],"internalScore":"SENTINEL_EXTRA"}`
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(obj), &raw); err != nil {
		b.Fatal(err)
	}
	return raw
}

func BenchmarkBuildPublicFile(b *testing.B) {
	raw := benchRaw(b)
	gw := GatewayValues{Path: "sunset.png", ContentURL: "https://share.example/s/tok/files/file_sunset/content",
		ThumbnailURL: "https://share.example/s/tok/files/file_sunset/thumbnail"}
	b.ReportAllocs()
	for b.Loop() {
		if pf := BuildPublicFile(raw, DefaultPublicFields, gw); len(pf) != 14 {
			b.Fatalf("%d fields", len(pf))
		}
	}
}

// BenchmarkPublicFileJSON is BuildPublicFile plus its encoding, what one
// file of a listing costs.
func BenchmarkPublicFileJSON(b *testing.B) {
	raw := benchRaw(b)
	gw := GatewayValues{Path: "sunset.png", ContentURL: "https://share.example/s/tok/files/file_sunset/content",
		ThumbnailURL: "https://share.example/s/tok/files/file_sunset/thumbnail"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(BuildPublicFile(raw, DefaultPublicFields, gw)); err != nil {
			b.Fatal(err)
		}
	}
}
