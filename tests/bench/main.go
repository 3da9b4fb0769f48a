// Command bench is publink's reproducible load harness (issue 7): it measures
// share-link traffic through publink side by side with a bare Caddy
// reverse_proxy to the same origin, in ONE publink process.
//
//	go run ./tests/bench -publink bin/publink -mediastore bin/mediastore
//
// (`make bench` builds both binaries and runs this.) It
//
//  1. writes a bench data set in mediastore's layout (a 1 KiB file, a 1 MiB
//     file and a folder of 200 files with ImageKit-shaped sidecars),
//  2. starts the real mediastore origin (it verifies every request's
//     signature with originauth) and, per store (embedded bbolt, then a
//     fresh redis-server), one publink process whose Caddyfile has two
//     visitor sites: "bare", plain `rewrite` + `reverse_proxy` routes to the
//     origin's URLs, and "publink", the `publink` directive,
//  3. creates the share links through publink's admin API (and unlocks the
//     password link for its cookie when passwords are implemented),
//  4. checks once that both sites serve the same bytes, then drives each
//     scenario with wrk in alternating rounds (bare, publink, bare, …) and
//     prints the medians of requests/s and p50/p99 latency and the ratios.
//
// How the bare proxy gets past the origin's signature check: the origin
// accepts any request signed within ±5 minutes and keeps no replay list, and
// each bare route always asks for one fixed URI, so the harness computes each
// route's signature once (timestamp now+4m, so it stays valid for about nine
// minutes) and writes it into the Caddyfile as static `header_up` values.
// The origin therefore does exactly the same work (HMAC verification,
// request log) for both sites; the origin code and the publink binary are
// the ones that ship. A fresh Caddyfile (and timestamp) is written for each
// store's run.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/publink/publink/originauth"
)

// Secrets of the throwaway bench setup (loopback only, deleted afterwards).
const (
	originSecret = "bench-origin-secret-0123456789"
	cookieKey    = "bench-cookie-key-0123456789abc"
	adminKey     = "bench-admin-key-0123456789abcd"
	benchPass    = "bench password 42"
	listDir      = "/bench/list"
	listFiles    = 200
)

type options struct {
	publink, mediastore string
	rounds              int
	duration            time.Duration
	warmup              time.Duration
	conns, threads      int
	stores              string
	only                string
	profile             string
	markdown            string
	keep                bool
}

func main() {
	var o options
	flag.StringVar(&o.publink, "publink", "bin/publink", "publink binary (go build ./cmd/publink)")
	flag.StringVar(&o.mediastore, "mediastore", "bin/mediastore", "mediastore binary (go build ./cmd/mediastore)")
	flag.IntVar(&o.rounds, "rounds", 5, "rounds per site and scenario (alternating bare, publink)")
	flag.DurationVar(&o.duration, "duration", 3*time.Second, "length of one wrk round")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured wrk run per site before a scenario's rounds")
	flag.IntVar(&o.conns, "c", 32, "wrk connections")
	flag.IntVar(&o.threads, "t", 2, "wrk threads")
	flag.StringVar(&o.stores, "stores", "embedded,redis", "stores to run, comma separated: embedded, redis")
	flag.StringVar(&o.only, "only", "", "run only scenarios whose key contains this (content-1k, content-1m, protected, file-json, listing)")
	flag.StringVar(&o.profile, "profile", "", "folder: after each scenario, take a 5s CPU profile of publink under load (Caddy admin /debug/pprof) into it")
	flag.StringVar(&o.markdown, "markdown", "", "also write the result table as Markdown to this file")
	flag.BoolVar(&o.keep, "keep", false, "keep the work folder (data, Caddyfiles, logs)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// scenario is one row of the table: the same content through both sites.
type scenario struct {
	key, title string
	barePath   string // path on the bare site
	originURI  string // what the bare route asks the origin for
	pubPath    string // path on the publink site (after links exist)
	headers    []string
	target     float64 // publink/bare req/s target
	p99Slack   time.Duration
	skip       string // why the row was skipped
	check      func(bare, pub []byte) error
}

// sample is one wrk run.
type sample struct {
	rps      float64
	p50, p99 time.Duration
}

// row is a scenario's result on one store.
type row struct {
	store    string
	sc       *scenario
	bare     []sample
	pub      []sample
	profiled string
}

func run(o options) error {
	for _, b := range []*string{&o.publink, &o.mediastore} {
		abs, err := filepath.Abs(*b)
		if err != nil {
			return err
		}
		if _, err := os.Stat(abs); err != nil {
			return fmt.Errorf("%s missing: build it first (make bench does)", *b)
		}
		*b = abs
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk not found on PATH (Debian: apt-get install wrk)")
	}
	stores := strings.Split(o.stores, ",")
	for _, s := range stores {
		if s != "embedded" && s != "redis" {
			return fmt.Errorf("unknown store %q", s)
		}
		if s == "redis" {
			if _, err := exec.LookPath("redis-server"); err != nil {
				return errors.New("redis-server not found on PATH (Debian: apt-get install redis-server), or pass -stores embedded")
			}
		}
	}
	if o.profile != "" {
		if err := os.MkdirAll(o.profile, 0o755); err != nil {
			return err
		}
	}
	work, err := os.MkdirTemp("", "publink-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Println("work folder:", work)
	} else {
		defer os.RemoveAll(work)
	}
	procs := &procSet{}
	defer procs.stopAll()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	printMachine(o)
	data := filepath.Join(work, "origin")
	if err := genData(data); err != nil {
		return fmt.Errorf("generating data: %v", err)
	}
	originPort := freePort()
	originURL := fmt.Sprintf("http://127.0.0.1:%d", originPort)
	if _, err := procs.start(ctx, "mediastore", o.mediastore, []string{"-listen", fmt.Sprintf("127.0.0.1:%d", originPort), "-data", data, "-secret", originSecret}, nil, filepath.Join(work, "mediastore.log")); err != nil {
		return err
	}
	if err := waitHTTP(ctx, originURL+"/manage/requests", map[string]string{"Authorization": "Bearer " + originSecret}); err != nil {
		return fmt.Errorf("mediastore did not start: %v (log: %s)", err, filepath.Join(work, "mediastore.log"))
	}

	start := time.Now()
	var rows []*row
	for _, st := range stores {
		rs, err := runStore(ctx, o, procs, work, originPort, st)
		if err != nil {
			return fmt.Errorf("%s store: %v", st, err)
		}
		rows = append(rows, rs...)
	}
	fmt.Printf("\nfinished in %s; load average after: %s (above %d, other work shared the CPUs and p99 mostly measures that)\n\n",
		time.Since(start).Round(time.Second), loadAvg(), runtime.NumCPU())
	table := renderTable(o, rows)
	fmt.Print(table)
	if o.markdown != "" {
		if err := os.WriteFile(o.markdown, []byte(table), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func printMachine(o options) {
	model := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if m := regexp.MustCompile(`(?m)^model name\s*:\s*(.+)$`).FindSubmatch(b); m != nil {
			model = string(m[1])
		}
	}
	fmt.Printf("machine: %d CPUs (%s), %s, %s/%s; load average before: %s\n",
		runtime.NumCPU(), model, runtime.Version(), runtime.GOOS, runtime.GOARCH, loadAvg())
	fmt.Printf("wrk: %d threads, %d connections, %d rounds x %s per site and scenario, alternating bare/publink\n",
		o.threads, o.conns, o.rounds, o.duration)
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// ---- data ----

const created, updated = "2024-06-01T18:00:00.000Z", "2024-06-02T10:00:00.000Z"

// sidecar is an ImageKit-shaped file object like the demo's, so JSON sizes
// and the allow-list's work are realistic.
func sidecar(id, name, mime string, size, w, h int) map[string]any {
	return map[string]any{
		"fileId": id, "name": name, "mime": mime, "size": size,
		"fileType": "image", "width": w, "height": h, "hasAlpha": false,
		"tags":              []string{"bench", "tag-" + id},
		"AITags":            []map[string]any{{"name": "Landscape", "confidence": 91, "source": "google-auto-tagging"}},
		"versionInfo":       map[string]any{"id": "ver_" + id, "name": "Version 1"},
		"isPrivateFile":     false,
		"isPublished":       true,
		"customCoordinates": "10,10,100,100",
		"customMetadata":    map[string]any{"note": "internal note for " + id},
		"embeddedMetadata":  map[string]any{"Make": "BenchCam", "Model": "B1", "DateTimeOriginal": "2024:06:01 18:00:00"},
		"url":               "https://media.example/" + id,
		"thumbnail":         "https://media.example/tr:n-thumb/" + id,
		"createdAt":         created, "updatedAt": updated,
		"createdBy": "user_bench", "description": "bench file " + id,
	}
}

func genData(dir string) error {
	rng := rand.New(rand.NewPCG(7, 7))
	bytesOf := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return b
	}
	write := func(rel string, b []byte) error {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return os.WriteFile(p, b, 0o644)
	}
	writeJSON := func(rel string, v any) error {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		return write(rel, b)
	}
	files := []struct {
		rel, id string
		size    int
	}{
		{"media/bench/small.jpg", "file_bench_1k", 1 << 10},
		{"media/bench/large.jpg", "file_bench_1m", 1 << 20},
	}
	for i := range listFiles {
		files = append(files, struct {
			rel, id string
			size    int
		}{fmt.Sprintf("media%s/img_%03d.jpg", listDir, i), fmt.Sprintf("file_list_%03d", i), 2048})
	}
	for _, f := range files {
		if err := write(f.rel, bytesOf(f.size)); err != nil {
			return err
		}
		if err := writeJSON(f.rel+".json", sidecar(f.id, filepath.Base(f.rel), "image/jpeg", f.size, 640, 480)); err != nil {
			return err
		}
	}
	for rel, id := range map[string]string{"media/bench": "fld_bench", "media" + listDir: "fld_bench_list"} {
		if err := writeJSON(rel+"/.folder.json", map[string]any{"folderId": id, "createdAt": created, "updatedAt": updated}); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "collections"), 0o755); err != nil {
		return err
	}
	return writeJSON("permissions.json", map[string]any{"users": map[string]any{"bench": map[string]any{"role": "admin"}}})
}

// ---- one store ----

func scenarios() []*scenario {
	listQuery := url.Values{"path": {listDir}, "type": {"all"}, "skip": {"0"}, "limit": {"1000"}}.Encode()
	same := func(bare, pub []byte) error {
		if !bytes.Equal(bare, pub) {
			return fmt.Errorf("bodies differ (%d vs %d bytes)", len(bare), len(pub))
		}
		return nil
	}
	return []*scenario{
		{key: "content-1k", title: "public content 1 KiB", barePath: "/content-1k", originURI: "/v1/files/file_bench_1k/content", target: 0.90, p99Slack: time.Millisecond, check: same},
		{key: "content-1m", title: "public content 1 MiB", barePath: "/content-1m", originURI: "/v1/files/file_bench_1m/content", target: 0.90, check: same},
		{key: "protected", title: "protected content 1 KiB (cookie)", barePath: "/content-1k", originURI: "/v1/files/file_bench_1k/content", target: 0.88, check: same},
		{key: "file-json", title: "file JSON metadata", barePath: "/file-json", originURI: "/v1/files/file_bench_1k", target: 0.80, check: func(bare, pub []byte) error {
			var b, p map[string]any
			if json.Unmarshal(bare, &b) != nil || json.Unmarshal(pub, &p) != nil || b["fileId"] != "file_bench_1k" || p["fileId"] != "file_bench_1k" {
				return errors.New("not the file object on both sites")
			}
			if _, leak := p["tags"]; leak {
				return errors.New("publink leaked tags")
			}
			return nil
		}},
		{key: "listing", title: "folder listing, 200 files", barePath: "/listing", originURI: "/v1/files?" + listQuery, target: 0.80, check: func(bare, pub []byte) error {
			var b []any
			var p struct {
				Files []map[string]any `json:"files"`
			}
			if err := json.Unmarshal(bare, &b); err != nil || len(b) != listFiles {
				return fmt.Errorf("bare listing has %d entries (%v)", len(b), err)
			}
			if err := json.Unmarshal(pub, &p); err != nil || len(p.Files) != listFiles {
				return fmt.Errorf("publink listing has %d files (%v)", len(p.Files), err)
			}
			return nil
		}},
	}
}

func runStore(ctx context.Context, o options, procs *procSet, work string, originPort int, st string) ([]*row, error) {
	fmt.Printf("\n== %s store ==\n", st)
	dir := filepath.Join(work, st)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	redisURL := ""
	if st == "redis" {
		port := freePort()
		p, err := procs.start(ctx, "redis-server", "redis-server", []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir}, nil, filepath.Join(dir, "redis.log"))
		if err != nil {
			return nil, err
		}
		defer procs.stop(p)
		if err := waitTCP(ctx, fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
			return nil, fmt.Errorf("redis-server did not start: %v", err)
		}
		redisURL = fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	}

	scs := scenarios()
	barePort, pubPort, adminPort, caddyAdmin := freePort(), freePort(), freePort(), freePort()
	pubURL := fmt.Sprintf("http://127.0.0.1:%d", pubPort)
	bareURL := fmt.Sprintf("http://127.0.0.1:%d", barePort)
	adminURL := fmt.Sprintf("http://127.0.0.1:%d/v1", adminPort)
	cf := caddyfile(scs, originPort, barePort, pubPort, adminPort, caddyAdmin, redisURL, filepath.Join(dir, "store"))
	cfPath := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cfPath, []byte(cf), 0o600); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "publink.log")
	env := []string{"HOME=" + dir, "XDG_DATA_HOME=" + dir, "XDG_CONFIG_HOME=" + dir}
	p, err := procs.start(ctx, "publink", o.publink, []string{"run", "--config", cfPath, "--adapter", "caddyfile"}, env, logPath)
	if err != nil {
		return nil, err
	}
	defer procs.stop(p)
	if err := waitHTTP(ctx, adminURL+"/links", adminHeaders()); err != nil {
		return nil, fmt.Errorf("publink did not start: %v\n%s", err, tailFile(logPath))
	}

	// Links.
	fileLink, err := createLink(adminURL, `{"target":{"type":"file","id":"file_bench_1k"}}`)
	if err != nil {
		return nil, err
	}
	bigLink, err := createLink(adminURL, `{"target":{"type":"file","id":"file_bench_1m"}}`)
	if err != nil {
		return nil, err
	}
	folderLink, err := createLink(adminURL, `{"target":{"type":"folder","id":"fld_bench_list"}}`)
	if err != nil {
		return nil, err
	}
	for _, sc := range scs {
		switch sc.key {
		case "content-1k":
			sc.pubPath = "/s/" + fileLink + "/files/file_bench_1k/content"
		case "content-1m":
			sc.pubPath = "/s/" + bigLink + "/files/file_bench_1m/content"
		case "file-json":
			sc.pubPath = "/s/" + fileLink + "/files/file_bench_1k"
		case "listing":
			sc.pubPath = "/s/" + folderLink + "/files"
		case "protected":
			cookie, why := protectedCookie(adminURL, pubURL)
			if why != "" {
				sc.skip = why
				continue
			}
			sc.pubPath = cookie.path
			sc.headers = []string{"Cookie: " + cookie.header}
		}
	}

	var rows []*row
	for _, sc := range scs {
		if o.only != "" && !strings.Contains(sc.key, o.only) {
			continue
		}
		r := &row{store: st, sc: sc}
		rows = append(rows, r)
		if sc.skip != "" {
			fmt.Printf("-- %s: skipped: %s\n", sc.title, sc.skip)
			continue
		}
		bare, pub := bareURL+sc.barePath, pubURL+sc.pubPath
		if err := verify(sc, bare, pub); err != nil {
			return nil, fmt.Errorf("%s: %v\n%s", sc.title, err, tailFile(logPath))
		}
		fmt.Printf("-- %s\n", sc.title)
		if o.warmup > 0 {
			for _, u := range []string{bare, pub} {
				if _, err := wrk(ctx, o, o.warmup, u, sc.headers); err != nil {
					return nil, err
				}
			}
		}
		for i := range o.rounds {
			for _, side := range []string{"bare", "publink"} {
				u := bare
				if side == "publink" {
					u = pub
				}
				s, err := wrk(ctx, o, o.duration, u, sc.headers)
				if err != nil {
					return nil, fmt.Errorf("%s, %s round %d: %v", sc.title, side, i+1, err)
				}
				if side == "bare" {
					r.bare = append(r.bare, s)
				} else {
					r.pub = append(r.pub, s)
				}
				fmt.Printf("   round %d %-7s %9.0f req/s  p50 %-9s p99 %s\n", i+1, side, s.rps, fmtDur(s.p50), fmtDur(s.p99))
			}
		}
		if o.profile != "" {
			out := filepath.Join(o.profile, fmt.Sprintf("cpu-%s-%s.pprof", st, sc.key))
			if err := profile(ctx, o, caddyAdmin, pub, sc.headers, out); err != nil {
				return nil, err
			}
			r.profiled = out
			fmt.Printf("   CPU profile: %s (go tool pprof -top %s %s)\n", out, o.publink, out)
		}
	}
	return rows, nil
}

func adminHeaders() map[string]string {
	return map[string]string{"Authorization": "Bearer " + adminKey, "X-Publink-Actor": "bench"}
}

// caddyfile writes the bench config: Caddy's admin endpoint on loopback (for
// pprof), the publink app, the bare proxy site, the publink site and the
// publink admin API.
func caddyfile(scs []*scenario, originPort, barePort, pubPort, adminPort, caddyAdmin int, redisURL, storeDir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "{\n\tadmin 127.0.0.1:%d\n\tpersist_config off\n\tpublink {\n", caddyAdmin)
	fmt.Fprintf(&b, "\t\torigin http://127.0.0.1:%d\n\t\torigin_secret %s\n\t\tpublic_url http://127.0.0.1:%d\n", originPort, originSecret, pubPort)
	if redisURL != "" {
		fmt.Fprintf(&b, "\t\tredis %s\n", redisURL)
	}
	fmt.Fprintf(&b, "\t\tdata_dir %s\n\t\tcookie_key %s\n\t\tinsecure_cookies true\n\t\tadmin_key default %s\n\t}\n}\n\n", storeDir, cookieKey, adminKey)

	// A signature valid from now-30s to now+9m30s (the origin allows ±5m).
	ts := time.Now().Add(4*time.Minute + 30*time.Second).Unix()
	fmt.Fprintf(&b, "# bare: reverse_proxy only; each route asks the origin for one fixed URI,\n# so its signature is computed once here.\nhttp://127.0.0.1:%d {\n\tbind 127.0.0.1\n", barePort)
	seen := map[string]bool{}
	for _, sc := range scs {
		if seen[sc.barePath] {
			continue
		}
		seen[sc.barePath] = true
		sig := originauth.Signature([]byte(originSecret), http.MethodGet, sc.originURI, "bare", ts)
		fmt.Fprintf(&b, "\thandle %s {\n\t\trewrite * %q\n\t\treverse_proxy 127.0.0.1:%d {\n", sc.barePath, sc.originURI, originPort)
		fmt.Fprintf(&b, "\t\t\theader_up %s %d\n\t\t\theader_up %s bare\n\t\t\theader_up %s %s\n\t\t}\n\t}\n",
			originauth.HeaderTimestamp, ts, originauth.HeaderLink, originauth.HeaderSignature, sig)
	}
	b.WriteString("\trespond 404\n}\n\n")
	fmt.Fprintf(&b, "http://127.0.0.1:%d {\n\tbind 127.0.0.1\n\tpublink\n\trespond \"Not found\" 404\n}\n\n", pubPort)
	fmt.Fprintf(&b, "http://127.0.0.1:%d {\n\tbind 127.0.0.1\n\tpublink_admin\n\trespond 404\n}\n", adminPort)
	return b.String()
}

var client = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func createLink(adminURL, body string) (token string, err error) {
	code, b, _, err := do(http.MethodPost, adminURL+"/links", strings.NewReader(body), adminHeaders(), "application/json")
	if err != nil {
		return "", err
	}
	if code != http.StatusCreated {
		return "", fmt.Errorf("creating link %s: %d %s", body, code, b)
	}
	var l struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(b, &l); err != nil || l.Token == "" {
		return "", fmt.Errorf("creating link: bad answer %s", b)
	}
	return l.Token, nil
}

type unlocked struct{ path, header string }

// protectedCookie creates a password link on the 1 KiB file and unlocks it.
// A non-empty reason means passwords are not usable in this build.
func protectedCookie(adminURL, pubURL string) (unlocked, string) {
	code, b, _, err := do(http.MethodPost, adminURL+"/links", strings.NewReader(`{"target":{"type":"file","id":"file_bench_1k"},"password":"`+benchPass+`"}`), adminHeaders(), "application/json")
	if err != nil || code != http.StatusCreated {
		return unlocked{}, fmt.Sprintf("creating a password link answered %d (%v): passwords not implemented in this build", code, err)
	}
	var l struct {
		Token string `json:"token"`
	}
	if json.Unmarshal(b, &l) != nil || l.Token == "" {
		return unlocked{}, "creating a password link: bad answer"
	}
	form := url.Values{"password": {benchPass}}.Encode()
	code, _, hdr, err := do(http.MethodPost, pubURL+"/s/"+l.Token+"/unlock", strings.NewReader(form),
		map[string]string{"Origin": pubURL, "Sec-Fetch-Site": "same-origin"}, "application/x-www-form-urlencoded")
	if err != nil || code != http.StatusSeeOther {
		return unlocked{}, fmt.Sprintf("POST /s/{token}/unlock answered %d (%v): unlock not implemented in this build", code, err)
	}
	var pairs []string
	for _, c := range (&http.Response{Header: hdr}).Cookies() {
		pairs = append(pairs, c.Name+"="+c.Value)
	}
	if len(pairs) == 0 {
		return unlocked{}, "unlock answered 303 without a cookie"
	}
	return unlocked{path: "/s/" + l.Token + "/files/file_bench_1k/content", header: strings.Join(pairs, "; ")}, ""
}

func do(method, u string, body io.Reader, hdr map[string]string, ctype string) (int, []byte, http.Header, error) {
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return 0, nil, nil, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header, err
}

// verify makes sure both sites answer 200 with the expected body before any
// number is taken: a benchmark of 401s or 404s would be meaningless.
func verify(sc *scenario, bare, pub string) error {
	hdr := map[string]string{}
	for _, h := range sc.headers {
		k, v, _ := strings.Cut(h, ": ")
		hdr[k] = v
	}
	bc, bb, _, err := do(http.MethodGet, bare, nil, hdr, "")
	if err != nil || bc != http.StatusOK {
		return fmt.Errorf("bare site answered %d (%v): %.300s", bc, err, bb)
	}
	pc, pb, _, err := do(http.MethodGet, pub, nil, hdr, "")
	if err != nil || pc != http.StatusOK {
		return fmt.Errorf("publink site answered %d (%v): %.300s", pc, err, pb)
	}
	return sc.check(bb, pb)
}

// ---- wrk ----

var (
	reRPS     = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)
	rePct     = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s|m)\s*$`)
	reNon2xx  = regexp.MustCompile(`(?m)Non-2xx or 3xx responses:\s+(\d+)`)
	reSockErr = regexp.MustCompile(`(?m)Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

func wrk(ctx context.Context, o options, d time.Duration, u string, headers []string) (sample, error) {
	args := []string{"-t", strconv.Itoa(o.threads), "-c", strconv.Itoa(o.conns), "-d", fmt.Sprintf("%ds", max(1, int(d.Round(time.Second)/time.Second))), "--latency"}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	args = append(args, u)
	out, err := exec.CommandContext(ctx, "wrk", args...).CombinedOutput()
	if err != nil {
		return sample{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	return parseWrk(string(out))
}

func parseWrk(out string) (sample, error) {
	var s sample
	m := reRPS.FindStringSubmatch(out)
	if m == nil {
		return s, fmt.Errorf("no Requests/sec in wrk output:\n%s", out)
	}
	s.rps, _ = strconv.ParseFloat(m[1], 64)
	for _, pm := range rePct.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(pm[2], 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second, "m": time.Minute}[pm[3]]
		d := time.Duration(v * float64(unit))
		if pm[1] == "50" {
			s.p50 = d
		} else {
			s.p99 = d
		}
	}
	if s.p50 == 0 || s.p99 == 0 {
		return s, fmt.Errorf("no latency distribution in wrk output:\n%s", out)
	}
	if m := reNon2xx.FindStringSubmatch(out); m != nil {
		return s, fmt.Errorf("%s responses were not 2xx/3xx:\n%s", m[1], out)
	}
	if m := reSockErr.FindStringSubmatch(out); m != nil {
		// Timeouts and read errors mean a broken run; wrk counts nothing else.
		if m[2] != "0" || m[4] != "0" || m[1] != "0" || m[3] != "0" {
			return s, fmt.Errorf("socket errors:\n%s", out)
		}
	}
	return s, nil
}

// profile loads the publink site for 6s while Caddy's admin endpoint takes a
// 5s CPU profile of the process.
func profile(ctx context.Context, o options, caddyAdmin int, u string, headers []string, out string) error {
	errc := make(chan error, 1)
	go func() {
		_, err := wrk(ctx, o, 6*time.Second, u, headers)
		errc <- err
	}()
	time.Sleep(500 * time.Millisecond)
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=5", caddyAdmin))
	if err != nil {
		<-errc
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(out)
	if err != nil {
		<-errc
		return err
	}
	_, err = io.Copy(f, resp.Body)
	f.Close()
	if werr := <-errc; werr != nil {
		return werr
	}
	return err
}

// ---- table ----

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medians(ss []sample) (rps float64, p50, p99 time.Duration) {
	var r, a, b []float64
	for _, s := range ss {
		r = append(r, s.rps)
		a = append(a, float64(s.p50))
		b = append(b, float64(s.p99))
	}
	return median(r), time.Duration(median(a)), time.Duration(median(b))
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.0fus", float64(d)/float64(time.Microsecond))
	}
}

func renderTable(o options, rows []*row) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Medians of %d rounds x %s (wrk -t%d -c%d), publink/bare:\n\n", o.rounds, o.duration, o.threads, o.conns)
	b.WriteString("| store | scenario | bare req/s | publink req/s | ratio | target | bare p50 | publink p50 | bare p99 | publink p99 | result |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rows {
		target := r.sc.target
		if r.store == "redis" && target > 0.85 {
			target = 0.85
		}
		if r.sc.skip != "" {
			fmt.Fprintf(&b, "| %s | %s | – | – | – | ≥%.2f | – | – | – | – | skipped: %s |\n", r.store, r.sc.title, target, r.sc.skip)
			continue
		}
		br, b50, b99 := medians(r.bare)
		pr, p50, p99 := medians(r.pub)
		ratio := pr / br
		verdict := "met"
		if ratio < target {
			verdict = "MISSED (req/s)"
		}
		if r.sc.p99Slack > 0 && p99 > b99+r.sc.p99Slack {
			if verdict == "met" {
				verdict = "MISSED (p99)"
			} else {
				verdict += ", MISSED (p99)"
			}
		}
		if r.sc.p99Slack > 0 {
			sign, d := "+", p99-b99
			if d < 0 {
				sign, d = "-", -d
			}
			verdict += fmt.Sprintf("; p99 %s%s (limit +%s)", sign, fmtDur(d), fmtDur(r.sc.p99Slack))
		}
		fmt.Fprintf(&b, "| %s | %s | %.0f | %.0f | %.2f | ≥%.2f | %s | %s | %s | %s | %s |\n",
			r.store, r.sc.title, br, pr, ratio, target, fmtDur(b50), fmtDur(p50), fmtDur(b99), fmtDur(p99), verdict)
	}
	return b.String()
}

// ---- processes ----

type procSet struct{ cmds []*exec.Cmd }

func (p *procSet) start(ctx context.Context, name, bin string, args, env []string, logPath string) (*exec.Cmd, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("starting %s: %v", name, err)
	}
	go func() { cmd.Wait(); lf.Close() }()
	p.cmds = append(p.cmds, cmd)
	return cmd, nil
}

// stop ends one process this harness started (by its own handle).
func (p *procSet) stop(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	cmd.Process.Signal(os.Interrupt)
	for range 100 {
		if cmd.Process.Signal(syscall.Signal(0)) != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
}

func (p *procSet) stopAll() {
	for i := len(p.cmds) - 1; i >= 0; i-- {
		p.stop(p.cmds[i])
	}
}

func freePort() int {
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if port != 6379 {
			return port
		}
	}
}

func waitHTTP(ctx context.Context, u string, hdr map[string]string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _, _, err := do(http.MethodGet, u, nil, hdr, "")
		if err == nil && code < 500 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s: %d %v", u, code, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func waitTCP(ctx context.Context, addr string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tailFile(p string) string {
	b, _ := os.ReadFile(p)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}
