package caddymodule

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

var update = flag.Bool("update", false, "rewrite golden files")

func adapt(t *testing.T, src string) ([]byte, error) {
	t.Helper()
	a := caddyfile.Adapter{ServerType: httpcaddyfile.ServerType{}}
	out, _, err := a.Adapt([]byte(src), map[string]any{"filename": "Caddyfile"})
	return out, err
}

// TestExampleCaddyfileAdapts pins the JSON the root Caddyfile produces with
// every PUBLINK_* variable unset, in a .caddyfiletest golden file
// (Caddyfile, a line of dashes, the JSON).
func TestExampleCaddyfileAdapts(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "PUBLINK_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	src, err := os.ReadFile(filepath.Join("..", "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := adapt(t, string(src))
	if err != nil {
		t.Fatalf("adapting the example Caddyfile: %v", err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, out, "", "\t"); err != nil {
		t.Fatal(err)
	}
	got := string(src) + "----------\n" + pretty.String() + "\n"
	golden := filepath.Join("testdata", "example.caddyfiletest")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./caddymodule -run TestExampleCaddyfileAdapts -update)", err)
	}
	if got != string(want) {
		t.Errorf("adapted JSON changed; if intended, rerun with -update.\n got:\n%s", got)
	}
	// The literal admin key never reaches the JSON: only its hash.
	if bytes.Contains(out, []byte("dev-admin-key-change-me")) {
		t.Error("adapted JSON holds the plain admin key")
	}
}

func TestCaddyfileErrorsNameTheField(t *testing.T) {
	cases := map[string]string{
		"{\n publink {\n  bogus 1\n }\n}\n":                            `unknown option "bogus"`,
		"{\n publink {\n  max_links_per_target x\n }\n}\n":             "max_links_per_target",
		"{\n publink {\n  cache_ttl forever\n }\n}\n":                  "cache_ttl",
		"{\n publink {\n  throttle_ip 5\n }\n}\n":                      "throttle_ip",
		"{\n publink {\n  insecure_cookies maybe\n }\n}\n":             "insecure_cookies",
		"{\n publink {\n  admin_key onlyone\n }\n}\n":                  "admin_key",
		":80 {\n publink extra\n}\n":                                   "publink",
		"{\n publink {\n  public_fields\n }\n}\n":                      "public_fields",
		"{\n publink {\n  origin a b\n }\n}\n":                         "origin",
		"{\n publink\n publink {\n }\n}\n":                             "only once",
		"{\n publink {\n  max_age soon\n }\n}\n":                       "max_age",
		"{\n publink {\n  throttle_link 5 never\n }\n}\n":              "throttle_link",
		"{\n publink {\n  hash_concurrency -1\n }\n}\n":                "hash_concurrency",
		"{\n publink {\n  admin_key_sha256 default abc extra\n }\n}\n": "admin_key_sha256",
	}
	for src, want := range cases {
		_, err := adapt(t, src)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("adapting %q: error %v, want one naming %q", src, err, want)
		}
	}
}

func TestValidateNamesTheField(t *testing.T) {
	good := func() *App {
		a := &App{Origin: "http://127.0.0.1:9", OriginSecret: strings.Repeat("s", 16), PublicURL: "https://share.example",
			cookieKeys: [][]byte{[]byte(strings.Repeat("k", 16))}, PublicFields: []string{"fileId"}}
		return a
	}
	if err := good().Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	cases := []struct {
		field string
		mod   func(a *App)
	}{
		{"origin", func(a *App) { a.Origin = "" }},
		{"origin", func(a *App) { a.Origin = "ftp://x" }},
		{"origin_secret", func(a *App) { a.OriginSecret = "short" }},
		{"public_url", func(a *App) { a.PublicURL = "share.example" }},
		{"cookie_key", func(a *App) { a.cookieKeys = nil }},
		{"cookie_key", func(a *App) { a.cookieKeys = [][]byte{[]byte("short")} }},
		{"webhook_secret", func(a *App) { a.WebhookSecret = "short" }},
		{"cache_ttl", func(a *App) { a.CacheTTL = caddy.Duration(2e9) }},
		{"public_fields", func(a *App) { a.PublicFields = []string{"fileId", "customMetadata"} }},
		{"max_links_per_target", func(a *App) { a.MaxLinksPerTarget = -1 }},
	}
	for _, c := range cases {
		a := good()
		c.mod(a)
		err := a.Validate()
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: Validate() = %v", c.field, err)
		}
	}
}
