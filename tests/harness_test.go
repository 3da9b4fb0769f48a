// Package tests holds publink's end-to-end tests: a real publink binary
// (Caddy with the module, configured by the root Caddyfile), the real
// mediastore origin on a copy of the demo data, and a real redis-server,
// each on free loopback ports and stopped by the test that started them.
package tests

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/publink/publink/internal/testenv"
)

// binDir holds the binaries built once for the whole test run.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "publink-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	for _, pkg := range []string{"publink", "mediastore"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, pkg), "../cmd/"+pkg)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n", pkg, err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// repoRoot is the repository's top folder.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// Options adjusts one test environment.
type Options struct {
	// Redis selects the Redis store (a fresh redis-server); otherwise the
	// embedded store.
	Redis bool
	// RedisURL reuses a given Redis instead of starting one.
	RedisURL string
	// Env adds or overrides PUBLINK_* variables.
	Env map[string]string
	// Caddyfile replaces the root Caddyfile.
	Caddyfile string
	// NoWebhook leaves mediastore's webhook unset.
	NoWebhook bool
}

// Env is one running gateway with its origin (and maybe Redis).
type Env struct {
	t             testing.TB
	GatewayURL    string
	AdminURL      string
	OriginURL     string
	RedisURL      string
	DataDir       string // mediastore's data copy
	StoreDir      string // embedded store folder
	AdminKey      string
	OriginSecret  string
	WebhookSecret string
	CookieKey     string
	Vars          map[string]string
	Logs          *bytes.Buffer
	gateway       *exec.Cmd
	origin        *exec.Cmd
	gatewayOut    *lockedBuffer
	Client        *http.Client
}

// GatewayLog returns everything the current publink process has written.
func (e *Env) GatewayLog() string {
	if e.gatewayOut == nil {
		return ""
	}
	e.gatewayOut.mu.Lock()
	defer e.gatewayOut.mu.Unlock()
	return e.gatewayOut.String()
}

const (
	testAdminKey      = "test-admin-key-0123456789"
	testOriginSecret  = "test-origin-secret-0123456789"
	testCookieKey     = "test-cookie-key-0123456789abcdef"
	testWebhookSecret = "whsec_dGVzdC13ZWJob29rLXNlY3JldC0wMTIzNDU2Nzg5"
)

// lockedBuffer collects a process's output safely.
type lockedBuffer struct {
	mu sync.Mutex
	bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.Write(p)
}

// NewEnv starts mediastore and publink (and redis-server when asked).
func NewEnv(t testing.TB, o Options) *Env {
	t.Helper()
	e := &Env{
		t: t, AdminKey: testAdminKey, OriginSecret: testOriginSecret,
		WebhookSecret: testWebhookSecret, CookieKey: testCookieKey,
		Client: &http.Client{
			Timeout:       30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	if o.Redis {
		e.RedisURL = o.RedisURL
		if e.RedisURL == "" {
			e.RedisURL = testenv.StartRedis(t)
		}
	}
	e.DataDir = filepath.Join(t.TempDir(), "media")
	if err := os.CopyFS(e.DataDir, os.DirFS(filepath.Join(repoRoot(), "examples", "demo"))); err != nil {
		t.Fatalf("copying demo data: %v", err)
	}
	e.StoreDir = filepath.Join(t.TempDir(), "store")
	caddyfile := filepath.Join(repoRoot(), "Caddyfile")
	if o.Caddyfile != "" {
		caddyfile = filepath.Join(t.TempDir(), "Caddyfile")
		if err := os.WriteFile(caddyfile, []byte(o.Caddyfile), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A free port can be taken by a test running alongside between
	// FreePort closing it and the server binding it: then start again on
	// other ports.
	for attempt := 1; ; attempt++ {
		err := e.startAll(o, caddyfile)
		if err == nil {
			return e
		}
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatal(err)
		}
		stopProcess(e.gateway)
		stopProcess(e.origin)
	}
}

// startAll starts mediastore and publink on fresh free ports.
func (e *Env) startAll(o Options, caddyfile string) error {
	t := e.t
	httpPort, adminPort, originPort := testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)
	e.GatewayURL = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	e.AdminURL = fmt.Sprintf("http://127.0.0.1:%d", adminPort)
	e.OriginURL = fmt.Sprintf("http://127.0.0.1:%d", originPort)

	args := []string{"-listen", fmt.Sprintf("127.0.0.1:%d", originPort), "-data", e.DataDir, "-secret", e.OriginSecret}
	if !o.NoWebhook {
		args = append(args, "-webhook", e.AdminURL+"/v1/events", "-webhook-secret", e.WebhookSecret)
	}
	var err error
	if e.origin, err = e.tryStart(filepath.Join(binDir, "mediastore"), args, nil, e.OriginURL+"/manage/requests"); err != nil {
		return err
	}

	e.Vars = map[string]string{
		"PUBLINK_HTTP_PORT":        fmt.Sprint(httpPort),
		"PUBLINK_ADMIN_PORT":       fmt.Sprint(adminPort),
		"PUBLINK_PUBLIC_URL":       e.GatewayURL,
		"PUBLINK_ORIGIN":           e.OriginURL,
		"PUBLINK_REDIS":            e.RedisURL,
		"PUBLINK_DATA_DIR":         e.StoreDir,
		"PUBLINK_ORIGIN_SECRET":    e.OriginSecret,
		"PUBLINK_COOKIE_KEY":       e.CookieKey,
		"PUBLINK_ADMIN_KEY":        e.AdminKey,
		"PUBLINK_WEBHOOK_SECRET":   e.WebhookSecret,
		"PUBLINK_INSECURE_COOKIES": "true",
	}
	for k, v := range o.Env {
		e.Vars[k] = v
	}
	e.gateway, err = e.tryStart(filepath.Join(binDir, "publink"), []string{"run", "--config", caddyfile, "--adapter", "caddyfile"}, e.gatewayEnv(), e.AdminURL+"/v1/links")
	return err
}

// StartGateway (re)starts publink with a Caddyfile.
func (e *Env) StartGateway(caddyfile string) {
	e.t.Helper()
	var err error
	e.gateway, err = e.tryStart(filepath.Join(binDir, "publink"), []string{"run", "--config", caddyfile, "--adapter", "caddyfile"}, e.gatewayEnv(), e.AdminURL+"/v1/links")
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *Env) gatewayEnv() []string {
	env := []string{"HOME=" + e.StoreDir, "XDG_DATA_HOME=" + e.StoreDir, "XDG_CONFIG_HOME=" + e.StoreDir}
	for k, v := range e.Vars {
		env = append(env, k+"="+v)
	}
	return env
}

// StopGateway stops publink (the origin and Redis keep running).
func (e *Env) StopGateway() {
	e.t.Helper()
	stopProcess(e.gateway)
	e.gateway = nil
}

// exited holds, per started process, a channel closed when it has exited
// (one goroutine per process waits for it).
var exited sync.Map

func stopProcess(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	d, ok := exited.Load(cmd)
	if !ok {
		return
	}
	done := d.(chan struct{})
	cmd.Process.Signal(os.Interrupt)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// start runs a binary and waits until readyURL answers at all.
// tryStart runs a binary and waits until readyURL answers at all; an error
// carries the process's output.
func (e *Env) tryStart(bin string, args, env []string, readyURL string) (*exec.Cmd, error) {
	e.t.Helper()
	out := &lockedBuffer{}
	if filepath.Base(bin) == "publink" {
		e.gatewayOut = out
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %v", bin, err)
	}
	done := make(chan struct{})
	exited.Store(cmd, done)
	go func() { cmd.Wait(); close(done) }()
	e.t.Cleanup(func() {
		stopProcess(cmd)
		if e.t.Failed() {
			e.t.Logf("%s output:\n%s", filepath.Base(bin), tail(out.String(), 6000))
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(readyURL)
		if err == nil {
			resp.Body.Close()
			return cmd, nil
		}
		select {
		case <-done:
			err = errors.New("it exited")
		default:
			if time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
				continue
			}
		}
		stopProcess(cmd)
		return nil, fmt.Errorf("%s did not start: %v\n%s", filepath.Base(bin), err, tail(out.String(), 6000))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// Response is a finished HTTP exchange.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test on error.
func (r *Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decoding %q: %v", r.Body, err)
	}
}

// Do sends a request and reads the whole response.
func (e *Env) Do(method, url string, body io.Reader, hdr map[string]string) *Response {
	e.t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range hdr {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := e.Client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// Get fetches a gateway path (e.g. "/s/TOKEN/files").
func (e *Env) Get(path string, hdr map[string]string) *Response {
	return e.Do(http.MethodGet, e.GatewayURL+path, nil, hdr)
}

// Admin calls the admin API as actor (empty: no actor header).
func (e *Env) Admin(method, path, actor string, body any) *Response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	hdr := map[string]string{"Authorization": "Bearer " + e.AdminKey, "Content-Type": "application/json"}
	if actor != "" {
		hdr["X-Publink-Actor"] = actor
	}
	return e.Do(method, e.AdminURL+path, rd, hdr)
}

// Link is the admin API's link JSON.
type Link struct {
	ID                string         `json:"id"`
	Token             string         `json:"token"`
	URL               string         `json:"url"`
	Target            map[string]any `json:"target"`
	ValidFrom         *time.Time     `json:"validFrom"`
	ValidUntil        *time.Time     `json:"validUntil"`
	HasPassword       bool           `json:"hasPassword"`
	ExposeUnpublished bool           `json:"exposeUnpublished"`
	CreatedBy         string         `json:"createdBy"`
	UpdatedBy         string         `json:"updatedBy"`
}

// CreateLink creates a link as alice (an admin) and fails on anything but 201.
func (e *Env) CreateLink(body map[string]any) Link {
	e.t.Helper()
	r := e.Admin(http.MethodPost, "/v1/links", "alice", body)
	if r.Status != http.StatusCreated {
		e.t.Fatalf("creating link %v: %d %s", body, r.Status, r.Body)
	}
	var l Link
	r.JSON(e.t, &l)
	return l
}

// FileLink creates a link to one file.
func (e *Env) FileLink(fileID string) Link {
	return e.CreateLink(map[string]any{"target": map[string]any{"type": "file", "id": fileID}})
}

// OriginRequest is one request mediastore saw.
type OriginRequest struct {
	Method     string            `json:"method"`
	RequestURI string            `json:"requestURI"`
	Link       string            `json:"link"`
	Signature  string            `json:"signature"`
	Verified   bool              `json:"verified"`
	Headers    map[string]string `json:"headers"`
}

// OriginRequests returns what mediastore has seen so far.
func (e *Env) OriginRequests() []OriginRequest {
	e.t.Helper()
	r := e.Manage(http.MethodGet, "/manage/requests", nil)
	var out struct {
		Items []OriginRequest `json:"items"`
	}
	r.JSON(e.t, &out)
	return out.Items
}

// Manage calls mediastore's management API.
func (e *Env) Manage(method, path string, body io.Reader) *Response {
	e.t.Helper()
	return e.Do(method, e.OriginURL+path, body, map[string]string{"Authorization": "Bearer " + e.OriginSecret})
}

// eventually retries cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stores runs a test against the embedded store and against Redis.
func stores(t *testing.T, fn func(t *testing.T, o Options)) {
	t.Run("bolt", func(t *testing.T) { t.Parallel(); fn(t, Options{}) })
	t.Run("redis", func(t *testing.T) { t.Parallel(); fn(t, Options{Redis: true}) })
}
