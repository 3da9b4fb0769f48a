package tests

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// browserAccept is the Accept header Chromium sends when it navigates; raw
// fetches use it so they get the same page the browser got.
const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"

// hostileName is file_hostile's display name (examples/demo).
const (
	hostileName   = `<img src=x onerror=alert(1)>"é.png`
	hostileArtist = `<script>alert('x')</script>`
)

// chromiumPath finds the browser; a missing browser is a failure, never a skip.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	t.Fatal("no Chromium found: install chromium (apt-get install chromium) to run the browser tests")
	return ""
}

// newBrowser starts a headless Chromium with a fresh profile, stopped when
// the test ends.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("lang", "en-US"),
		chromedp.WindowSize(1280, 860),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return ctx
}

// tab is one browser tab that records every dialog the page opens and every
// Content-Security-Policy violation or uncaught exception it reports; the
// test fails if any happened.
type tab struct {
	t   *testing.T
	e   *Env
	ctx context.Context

	mu       sync.Mutex
	dialogs  []string
	problems []string
}

func newTab(t *testing.T, e *Env, browserCtx context.Context) *tab {
	t.Helper()
	tctx, cancelTimeout := context.WithTimeout(browserCtx, 3*time.Minute)
	ctx, cancel := chromedp.NewContext(tctx)
	t.Cleanup(func() { cancel(); cancelTimeout() })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 860)); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	tb := &tab{t: t, e: e, ctx: ctx}
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			tb.mu.Lock()
			tb.dialogs = append(tb.dialogs, fmt.Sprintf("%s: %q", ev.Type, ev.Message))
			tb.mu.Unlock()
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	console := chromedp.Console(ctx)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
				tb.mu.Lock()
				tb.problems = append(tb.problems, m.String())
				tb.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		time.Sleep(100 * time.Millisecond) // let the last events arrive
		tb.mu.Lock()
		defer tb.mu.Unlock()
		if len(tb.dialogs) > 0 {
			t.Errorf("the page opened JavaScript dialogs (script ran): %v", tb.dialogs)
		}
		if len(tb.problems) > 0 {
			t.Errorf("the page reported CSP violations or exceptions: %v", tb.problems)
		}
	})
	return tb
}

// do runs actions, failing the test on error.
func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %v", what, err)
	}
}

func run[T any](tb *tab, what string, a chromedp.Action[T]) T {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, a)
	if err != nil {
		tb.t.Fatalf("%s: %v", what, err)
	}
	return v
}

func eval[T any](tb *tab, js string) T {
	tb.t.Helper()
	return run(tb, "evaluating "+js, chromedp.Evaluate[T](js))
}

// open navigates to a gateway path and checks the page it got.
func (tb *tab) open(path string) *network.Response {
	tb.t.Helper()
	resp := run(tb, "opening "+path, chromedp.NavigateResponse(tb.e.GatewayURL+path))
	tb.checkPage()
	return resp
}

// follow clicks a link or button and waits for the page it leads to.
func (tb *tab) follow(sel string) *network.Response {
	tb.t.Helper()
	resp, err := chromedp.RunResponse(tb.ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		tb.t.Fatalf("clicking %s: %v", sel, err)
	}
	tb.checkPage()
	return resp
}

// checkPage asserts what holds for every page: no forbidden field anywhere
// in its HTML, no script element, a language, a main landmark and the
// stylesheet applied (a blocked stylesheet would leave the UA's serif font).
func (tb *tab) checkPage() {
	tb.t.Helper()
	html := run(tb, "reading the page", chromedp.OuterHTML(chromedp.CSS("html")))
	if i := strings.Index(html, "SENTINEL"); i >= 0 {
		tb.t.Errorf("page %s shows a forbidden field: …%s…", tb.location(), html[max(0, i-80):min(len(html), i+80)])
	}
	got := eval[map[string]any](tb, `({
		scripts: document.scripts.length,
		lang: document.documentElement.lang,
		main: document.querySelectorAll('main').length,
		header: document.querySelectorAll('header').length,
		footer: document.querySelectorAll('footer').length,
		font: getComputedStyle(document.body).fontFamily,
		h1: document.querySelectorAll('h1').length,
	})`)
	if got["scripts"] != 0.0 || got["lang"] != "en" || got["main"] != 1.0 || got["header"] != 1.0 || got["footer"] != 1.0 || got["h1"] != 1.0 {
		tb.t.Errorf("page %s: want no scripts, lang=en, one main/header/footer/h1; got %v", tb.location(), got)
	}
	if f, _ := got["font"].(string); !strings.Contains(f, "system-ui") {
		tb.t.Errorf("page %s: stylesheet not applied (font %q)", tb.location(), f)
	}
}

func (tb *tab) location() string {
	loc, _ := chromedp.Run(tb.ctx, chromedp.Location())
	return strings.TrimPrefix(loc, tb.e.GatewayURL)
}

func (tb *tab) text(sel string) string {
	tb.t.Helper()
	return strings.TrimSpace(run(tb, "reading "+sel, chromedp.TextContent(chromedp.CSS(sel))))
}

func (tb *tab) texts(sel string) []string {
	tb.t.Helper()
	return eval[[]string](tb, fmt.Sprintf(`[...document.querySelectorAll(%q)].map(e => e.textContent.trim())`, sel))
}

// waitImages waits until every image in the viewport has loaded and
// returns those that failed.
func (tb *tab) waitImages() []string {
	tb.t.Helper()
	inView := `[...document.images].filter(i => i.getBoundingClientRect().top < innerHeight)`
	run(tb, "waiting for images", chromedp.Poll[bool](inView+`.every(i => i.complete)`,
		chromedp.WithPollingTimeout(15*time.Second)))
	return eval[[]string](tb, inView+`.filter(i => !i.naturalWidth).map(i => i.src)`)
}

// shot saves a full-page PNG to test-artifacts/ and, for docs, to
// docs/screenshots/ too.
func (tb *tab) shot(name string, docs bool) {
	tb.t.Helper()
	tb.waitImages()
	buf := run(tb, "screenshot "+name, chromedp.FullScreenshot(100))
	dirs := []string{filepath.Join(repoRoot(), "test-artifacts")}
	if docs {
		dirs = append(dirs, filepath.Join(repoRoot(), "docs", "screenshots"))
	}
	for _, dir := range dirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			tb.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
			tb.t.Fatal(err)
		}
	}
}

// colorScheme switches prefers-color-scheme. It also asks for reduced
// motion, which turns the pages' transitions off, so colours read right
// after the switch are the final ones.
func (tb *tab) colorScheme(scheme string) {
	tb.t.Helper()
	if _, err := chromedp.Call(tb.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{
			{Name: "prefers-color-scheme", Value: scheme},
			{Name: "prefers-reduced-motion", Value: "reduce"},
		},
	}); err != nil {
		tb.t.Fatal(err)
	}
}

// lowContrast lists visible text whose contrast with its background is
// below WCAG AA (4.5:1, or 3:1 for large text).
func (tb *tab) lowContrast() []string {
	tb.t.Helper()
	return eval[[]string](tb, `(() => {
	const parse = c => { const m = c.match(/rgba?\(([^)]+)\)/); if (!m) return null;
		const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
		return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; };
	const over = (f, b) => ({r: f.r*f.a + b.r*(1-f.a), g: f.g*f.a + b.g*(1-f.a), b: f.b*f.a + b.b*(1-f.a), a: 1});
	const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v/12.92 : Math.pow((v+0.055)/1.055, 2.4); };
		return 0.2126*f(c.r) + 0.7152*f(c.g) + 0.0722*f(c.b); };
	const bgOf = el => { const layers = [];
		for (let e = el; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor);
			if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; } }
		let bg = matchMedia('(prefers-color-scheme: dark)').matches ? {r:0,g:0,b:0,a:1} : {r:255,g:255,b:255,a:1};
		for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
		return bg; };
	const bad = [];
	const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
	for (let n = walker.nextNode(); n; n = walker.nextNode()) {
		if (!n.textContent.trim()) continue;
		const el = n.parentElement, s = getComputedStyle(el), r = el.getBoundingClientRect();
		if (!r.width || !r.height || s.visibility === 'hidden' || r.bottom < 0) continue;
		const bg = bgOf(el), fg = over(parse(s.color), bg);
		const a = lum(fg), b = lum(bg), ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
		const size = parseFloat(s.fontSize), large = size >= 24 || (size >= 18.66 && Number(s.fontWeight) >= 700);
		if (ratio < (large ? 3 : 4.5)) bad.push(n.textContent.trim().slice(0, 40) + ' ' + ratio.toFixed(2) + ':1 ' + s.color + ' on ' + JSON.stringify(bg));
	}
	return bad; })()`)
}

// rawPage fetches a gateway path outside the browser, as the browser would.
func rawPage(t *testing.T, e *Env, path string) *Response {
	t.Helper()
	r := e.Get(path, map[string]string{"Accept": browserAccept})
	if i := bytes.Index(r.Body, []byte("SENTINEL")); i >= 0 {
		t.Errorf("%s shows a forbidden field: %q", path, r.Body[max(0, i-80):min(len(r.Body), i+80)])
	}
	return r
}

// demoBytes is a demo file's content as the origin holds it.
func demoBytes(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), "examples", "demo", "media", filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// listingNames is the names in a link's JSON listing at rel.
func listingNames(t *testing.T, e *Env, token, rel string) (folders, files []string) {
	t.Helper()
	r := e.Get("/s/"+token+"/files?path="+url.QueryEscape(rel), map[string]string{"Accept": "application/json"})
	if r.Status != http.StatusOK {
		t.Fatalf("listing %q: %d %s", rel, r.Status, r.Body)
	}
	var l struct {
		Folders []struct{ Name string }
		Files   []struct{ Name string }
	}
	r.JSON(t, &l)
	for _, f := range l.Folders {
		folders = append(folders, f.Name)
	}
	for _, f := range l.Files {
		files = append(files, f.Name)
	}
	slices.Sort(folders)
	slices.Sort(files)
	return folders, files
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

// browserDownload clicks a download link and returns the bytes the browser
// saved.
func (tb *tab) browserDownload(sel string) []byte {
	tb.t.Helper()
	dir := tb.t.TempDir()
	if _, err := chromedp.CallBrowser(tb.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: new(true),
	}); err != nil {
		tb.t.Fatalf("allowing downloads: %v", err)
	}
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	progress := chromedp.BrowserEvents(ctx, browser.DownloadProgress)
	tb.do("clicking "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	for ev, err := range progress {
		if err != nil {
			tb.t.Fatalf("download of %s did not finish: %v", sel, err)
		}
		switch ev.State {
		case browser.DownloadProgressStateCompleted:
			b, err := os.ReadFile(filepath.Join(dir, ev.GUID))
			if err != nil {
				tb.t.Fatal(err)
			}
			return b
		case browser.DownloadProgressStateCanceled:
			tb.t.Fatalf("download of %s was canceled", sel)
		}
	}
	tb.t.Fatalf("download of %s did not finish", sel)
	return nil
}

// TestBrowserPages opens share links in a real headless Chromium against a
// real gateway and origin: galleries, file pages, downloads, passwords,
// not-found pages, hostile names, phone width, dark mode, contrast and
// keyboard focus. Screenshots go to test-artifacts/ and docs/screenshots/.
func TestBrowserPages(t *testing.T) {
	chromiumPath(t)
	e := NewEnv(t, Options{})
	bctx := newBrowser(t)
	photos := e.CreateLink(map[string]any{"target": map[string]any{"type": "folder", "id": "fld_photos"}})
	root := "/s/" + photos.Token

	t.Run("gallery and folders", func(t *testing.T) {
		tb := newTab(t, e, bctx)
		if r := tb.open(root); r.Status != http.StatusOK {
			t.Fatalf("gallery: status %d", r.Status)
		}
		if got := tb.text("h1"); got != "photos" {
			t.Errorf("gallery h1 = %q, want photos", got)
		}
		folders, files := listingNames(t, e, photos.Token, "")
		if got := sorted(tb.texts(".card-link")); !slices.Equal(got, files) {
			t.Errorf("cards %v, want the listing's files %v", got, files)
		}
		if slices.Contains(files, "draft.png") {
			t.Errorf("unpublished draft.png is listed")
		}
		if got := sorted(tb.texts(".folder-name")); !slices.Equal(got, folders) || !slices.Contains(got, "2024") {
			t.Errorf("folders %v, want %v with 2024", got, folders)
		}
		thumbs := eval[[]map[string]string](tb, `[...document.querySelectorAll('.card')].map(c => {
			const i = c.querySelector('.thumb img');
			return {alt: i.alt, loading: i.loading, src: new URL(i.src).pathname, name: c.querySelector('.card-link').textContent.trim()}; })`)
		for _, th := range thumbs {
			if th["alt"] != th["name"] || th["loading"] != "lazy" || !strings.HasPrefix(th["src"], root+"/files/") || !strings.HasSuffix(th["src"], "/thumbnail") {
				t.Errorf("thumbnail %v: want alt = name, lazy loading, the gateway thumbnail URL", th)
			}
		}
		if bad := tb.waitImages(); len(bad) > 0 {
			t.Errorf("images did not load: %v", bad)
		}
		if zip := eval[string](tb, `new URL(document.querySelector('a[href$="download.zip"]').href).pathname`); zip != root+"/download.zip" {
			t.Errorf("zip link %q", zip)
		}
		downloads := eval[[]string](tb, `[...document.querySelectorAll('.card a[download]')].map(a => new URL(a.href).pathname + new URL(a.href).search)`)
		if len(downloads) != len(files) {
			t.Errorf("%d per-file download buttons for %d files", len(downloads), len(files))
		}
		for _, d := range downloads {
			if !strings.HasSuffix(d, "/content?download=1") {
				t.Errorf("download button %q", d)
			}
		}
		tb.shot("gallery", true)

		// Into the subfolder and back by the breadcrumb.
		tb.follow(`.folder[href*="path=2024"]`)
		if got := tb.text("h1"); got != "2024" {
			t.Errorf("subfolder h1 = %q", got)
		}
		if loc := tb.location(); loc != root+"?path=2024" {
			t.Errorf("subfolder URL %q", loc)
		}
		_, subFiles := listingNames(t, e, photos.Token, "2024")
		if got := sorted(tb.texts(".card-link")); !slices.Equal(got, subFiles) || !slices.Contains(got, "beach.png") {
			t.Errorf("subfolder cards %v, want %v", got, subFiles)
		}
		if got := tb.texts(".crumbs li"); !slices.Equal(got, []string{"photos", "2024"}) {
			t.Errorf("breadcrumb %v", got)
		}
		if cur := tb.text(`.crumbs [aria-current="page"]`); cur != "2024" {
			t.Errorf("current crumb %q", cur)
		}
		tb.shot("gallery-subfolder", false)
		tb.follow(`.crumbs a`)
		if got, loc := tb.text("h1"), tb.location(); got != "photos" || loc != root {
			t.Errorf("breadcrumb led to %q (%s)", got, loc)
		}
	})

	t.Run("file detail and downloads", func(t *testing.T) {
		tb := newTab(t, e, bctx)
		tb.open(root + "?path=2024")
		tb.follow(`.card-link`)
		if got := tb.text("h1"); got != "beach.png" {
			t.Fatalf("detail h1 = %q", got)
		}
		if loc := tb.location(); loc != root+"?file=file_beach" {
			t.Errorf("detail URL %q", loc)
		}
		if bad := tb.waitImages(); len(bad) > 0 {
			t.Errorf("preview did not load: %v", bad)
		}
		prev := eval[map[string]any](tb, `(() => { const i = document.querySelector('img.preview');
			return {src: new URL(i.src).pathname, alt: i.alt, w: i.naturalWidth}; })()`)
		if prev["src"] != root+"/files/file_beach/content" || prev["alt"] != "beach.png" {
			t.Errorf("preview %v", prev)
		}
		details := strings.Join(tb.texts(".props div"), "|")
		for _, want := range []string{"PNG image", "image/png", "320 × 240 px", "1.4 KB"} {
			if !strings.Contains(details, want) {
				t.Errorf("details %q lack %q", details, want)
			}
		}
		if meta := strings.Join(tb.texts(".meta tr"), "|"); !strings.Contains(meta, "DemoCam") || !strings.Contains(meta, "Make") {
			t.Errorf("embedded metadata table %q", meta)
		}
		tb.shot("file", true)

		got := tb.browserDownload(`.info a[download]`)
		if want := demoBytes(t, "photos/2024/beach.png"); !bytes.Equal(got, want) {
			t.Errorf("downloaded %d bytes, want the origin's %d", len(got), len(want))
		}
		href := eval[string](tb, `document.querySelector('.info a[download]').href`)
		r := e.Do(http.MethodGet, href, nil, nil)
		if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Disposition"), "attachment") {
			t.Errorf("download link: %d, Content-Disposition %q", r.Status, r.Header.Get("Content-Disposition"))
		}

		if back := tb.text(".back"); back != "Back to 2024" {
			t.Errorf("back link %q", back)
		}
		tb.follow(".back")
		if loc := tb.location(); loc != root+"?path=2024" {
			t.Errorf("Back led to %q", loc)
		}
	})

	t.Run("zip", func(t *testing.T) {
		tb := newTab(t, e, bctx)
		tb.open(root)
		href := eval[string](tb, `document.querySelector('a[href$="download.zip"]').href`)
		r := e.Do(http.MethodGet, href, nil, nil)
		if r.Status == http.StatusNotFound {
			t.Skip("zip downloads not implemented yet")
		}
		if r.Status != http.StatusOK {
			t.Fatalf("zip: %d", r.Status)
		}
		zr, err := zip.NewReader(bytes.NewReader(r.Body), int64(len(r.Body)))
		if err != nil {
			t.Fatalf("zip: %v", err)
		}
		_, rootFiles := listingNames(t, e, photos.Token, "")
		_, subFiles := listingNames(t, e, photos.Token, "2024")
		var want, got []string
		want = append(want, rootFiles...)
		for _, f := range subFiles {
			want = append(want, "2024/"+f)
		}
		for _, f := range zr.File {
			got = append(got, f.Name)
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			if !bytes.Equal(b, demoBytes(t, "photos/"+f.Name)) {
				t.Errorf("zip entry %s differs from the origin's file", f.Name)
			}
		}
		if !slices.Equal(sorted(got), sorted(want)) {
			t.Errorf("zip entries %v, want %v", got, want)
		}
		// The browser downloads the same archive.
		if b := tb.browserDownload(`a[href$="download.zip"]`); len(b) == 0 {
			t.Errorf("browser download of the zip is empty")
		}
	})

	t.Run("collection", func(t *testing.T) {
		col := e.CreateLink(map[string]any{"target": map[string]any{"type": "collection", "id": "col_summer"}})
		tb := newTab(t, e, bctx)
		tb.open("/s/" + col.Token)
		_, files := listingNames(t, e, col.Token, "")
		if got := sorted(tb.texts(".card-link")); !slices.Equal(got, files) || len(got) == 0 {
			t.Errorf("collection cards %v, want %v", got, files)
		}
		if n := eval[int](tb, `document.querySelectorAll('.crumbs').length`); n != 0 {
			t.Errorf("a collection has no breadcrumb")
		}
		tb.shot("collection", false)
		tb.follow(`.card-link`)
		if back := tb.text(".back"); back != "Back to "+collectionName(t, e, "col_summer") {
			t.Errorf("collection back link %q", back)
		}
		empty := e.CreateLink(map[string]any{"target": map[string]any{"type": "collection", "id": "col_empty"}})
		tb.open("/s/" + empty.Token)
		if n := eval[int](tb, `document.querySelectorAll('.card, a[href$="download.zip"]').length`); n != 0 {
			t.Errorf("empty collection shows %d cards or zip links", n)
		}
		if !strings.Contains(tb.text("main"), "Nothing has been shared here yet") {
			t.Errorf("empty collection: no empty state")
		}
	})

	t.Run("paging", func(t *testing.T) {
		dir := filepath.Join(e.DataDir, "media", "bulk")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, ".folder.json"), []byte(`{"folderId":"fld_bulk","createdAt":"2024-06-01T18:00:00.000Z","updatedAt":"2024-06-01T18:00:00.000Z"}`), 0o644)
		img := demoBytes(t, "photos/sunset.png")
		for i := 1; i <= 65; i++ {
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("img%03d.png", i)), img, 0o644)
		}
		if r := e.Manage(http.MethodPost, "/manage/reload", nil); r.Status >= 300 {
			t.Fatalf("reload: %d %s", r.Status, r.Body)
		}
		bulk := e.CreateLink(map[string]any{"target": map[string]any{"type": "folder", "id": "fld_bulk"}})
		base := "/s/" + bulk.Token
		tb := newTab(t, e, bctx)
		tb.open(base)
		if n := len(tb.texts(".card-link")); n != 60 {
			t.Errorf("page 1 shows %d files, want 60", n)
		}
		if sub := tb.text(".page-head .sub"); !strings.Contains(sub, "65 files") {
			t.Errorf("gallery header %q does not count all 65 files", sub)
		}
		if lazy := eval[int](tb, `[...document.querySelectorAll('.thumb img')].filter(i => i.loading === 'lazy').length`); lazy != 60 {
			t.Errorf("%d lazy thumbnails of 60", lazy)
		}
		tb.follow(`a[rel="next"]`)
		if loc := tb.location(); loc != base+"?page=2" {
			t.Errorf("next page URL %q", loc)
		}
		if got := tb.texts(".card-link"); len(got) != 5 || got[0] != "img061.png" {
			t.Errorf("page 2 shows %v", got)
		}
		if n := eval[int](tb, `document.querySelectorAll('a[rel="next"]').length`); n != 0 {
			t.Errorf("last page has a Next link")
		}
		tb.follow(`a[rel="prev"]`)
		if got := tb.texts(".card-link"); len(got) != 60 || got[0] != "img001.png" {
			t.Errorf("back on page 1: %d files starting %v", len(got), got[:min(1, len(got))])
		}
		for _, q := range []string{"?page=3", "?page=0", "?page=x"} {
			if r := rawPage(t, e, base+q); r.Status != http.StatusNotFound {
				t.Errorf("%s: %d, want 404", q, r.Status)
			}
		}
	})

	t.Run("password", func(t *testing.T) {
		const pw = "correct horse battery staple"
		r := e.Admin(http.MethodPost, "/v1/links", "alice", map[string]any{
			"target": map[string]any{"type": "folder", "id": "fld_photos"}, "password": pw})
		if r.Status != http.StatusCreated {
			t.Skipf("unlock not implemented yet: password links cannot be created (%d %s)", r.Status, r.Body)
		}
		var l Link
		r.JSON(t, &l)
		tb := newTab(t, e, bctx)
		if resp := tb.open("/s/" + l.Token); resp.Status != http.StatusUnauthorized {
			t.Fatalf("protected link: %d, want 401", resp.Status)
		}
		form := eval[map[string]any](tb, `(() => { const f = document.querySelector('form'), i = document.querySelector('input[type=password]');
			return {method: f.method, action: new URL(f.action).pathname, name: i.name, label: document.querySelector('label[for="' + i.id + '"]')?.textContent.trim(), focused: document.activeElement === i}; })()`)
		if form["method"] != "post" || form["action"] != "/s/"+l.Token+"/unlock" || form["name"] != "password" || form["label"] != "Password" {
			t.Errorf("password form %v", form)
		}
		if body := run(tb, "page", chromedp.OuterHTML(chromedp.CSS("html"))); strings.Contains(body, "sunset.png") || strings.Contains(body, ">photos<") {
			t.Errorf("the password page shows what it protects")
		}
		tb.shot("password", true)

		tb.do("typing", chromedp.SendKeys(chromedp.CSS("#password"), "not the password"))
		resp := tb.follow(`form button[type=submit]`)
		if resp.Status == http.StatusNotFound {
			t.Skip("unlock not implemented yet")
		}
		if resp.Status != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d, want 401", resp.Status)
		}
		if msg := tb.text(`[role="alert"]`); msg == "" {
			t.Errorf("wrong password: no error message")
		}
		tb.shot("password-wrong", false)
		for _, scheme := range []string{"dark", "light"} {
			tb.colorScheme(scheme)
			if bad := tb.lowContrast(); len(bad) > 0 {
				t.Errorf("password page (%s): text below 4.5:1: %v", scheme, bad)
			}
		}

		tb.do("typing", chromedp.SendKeys(chromedp.CSS("#password"), pw))
		resp = tb.follow(`form button[type=submit]`)
		if resp.Status != http.StatusOK || tb.location() != "/s/"+l.Token {
			t.Fatalf("right password: %d at %s, want the gallery", resp.Status, tb.location())
		}
		if got := tb.text("h1"); got != "photos" {
			t.Errorf("unlocked gallery h1 %q", got)
		}
		if bad := tb.waitImages(); len(bad) > 0 {
			t.Errorf("thumbnails of the unlocked link did not load: %v", bad)
		}

		// Too many wrong passwords: a readable wait.
		r = e.Admin(http.MethodPost, "/v1/links", "alice", map[string]any{
			"target": map[string]any{"type": "file", "id": "file_sunset"}, "password": pw})
		r.JSON(t, &l)
		tb.open("/s/" + l.Token)
		for i := 0; i < 10; i++ {
			tb.do("typing", chromedp.SendKeys(chromedp.CSS("#password"), fmt.Sprintf("wrong %d", i)))
			if resp = tb.follow(`form button[type=submit]`); resp.Status == http.StatusTooManyRequests {
				break
			}
		}
		if resp.Status != http.StatusTooManyRequests {
			t.Fatalf("10 wrong passwords: %d, want 429", resp.Status)
		}
		if msg := tb.text(`[role="alert"]`); !strings.Contains(msg, "Try again in ") || !strings.Contains(msg, "minute") {
			t.Errorf("429 message %q does not say how long to wait", msg)
		}
		tb.shot("password-throttled", false)
	})

	t.Run("not found pages are identical", func(t *testing.T) {
		exp := e.CreateLink(map[string]any{"target": map[string]any{"type": "folder", "id": "fld_photos"},
			"validUntil": time.Now().Add(2 * time.Second).UTC().Format(time.RFC3339Nano)})
		tb := newTab(t, e, bctx)
		if r := tb.open("/s/" + exp.Token); r.Status != http.StatusOK {
			t.Fatalf("link before expiry: %d", r.Status)
		}
		time.Sleep(time.Until(exp.ValidUntil.Add(300 * time.Millisecond)))
		unknown := strings.Repeat("A", len(photos.Token)-4) + "zZ9_"
		paths := []string{"/s/" + exp.Token, "/s/" + unknown, root + "?file=file_other", root + "?file=file_draft", root + "?page=2"}
		var first []byte
		var firstDOM string
		for i, p := range paths {
			r := rawPage(t, e, p)
			if r.Status != http.StatusNotFound {
				t.Errorf("%s: %d, want 404", p, r.Status)
			}
			if resp := tb.open(p); resp.Status != http.StatusNotFound {
				t.Errorf("browser %s: %d, want 404", p, resp.Status)
			}
			dom := run(tb, "page", chromedp.OuterHTML(chromedp.CSS("html")))
			if i == 0 {
				first, firstDOM = r.Body, dom
				tb.shot("not-found", false)
				continue
			}
			if !bytes.Equal(r.Body, first) {
				t.Errorf("404 body for %s differs from the expired link's", p)
			}
			if dom != firstDOM {
				t.Errorf("404 page in the browser for %s differs from the expired link's", p)
			}
		}
		for _, leak := range []string{exp.Token[:8], unknown[:8], "file_other", "page=2"} {
			if bytes.Contains(first, []byte(leak)) {
				t.Errorf("404 page contains %q", leak)
			}
		}
	})

	t.Run("hostile names render as text", func(t *testing.T) {
		file := e.FileLink("file_hostile")
		tb := newTab(t, e, bctx)
		tb.open("/s/" + file.Token)
		if got := tb.text("h1"); got != hostileName {
			t.Errorf("h1 %q, want the literal name %q", got, hostileName)
		}
		if alt := eval[string](tb, `document.querySelector('img.preview').alt`); alt != hostileName {
			t.Errorf("preview alt %q", alt)
		}
		if n := eval[int](tb, `document.querySelectorAll('img[src="x"], [onerror]').length`); n != 0 {
			t.Errorf("the name became markup: %d injected elements", n)
		}
		if meta := tb.texts(".meta td"); !slices.Contains(meta, hostileArtist) {
			t.Errorf("metadata cells %q lack the literal Artist %q", meta, hostileArtist)
		}
		if title := run(tb, "title", chromedp.Title()); !strings.HasPrefix(title, hostileName) {
			t.Errorf("title %q", title)
		}
		tb.shot("file-hostile", false)

		docs := e.CreateLink(map[string]any{"target": map[string]any{"type": "folder", "id": "fld_docs"}})
		tb.open("/s/" + docs.Token)
		if names := tb.texts(".card-link"); !slices.Contains(names, hostileName) {
			t.Errorf("docs gallery cards %q lack the literal hostile name", names)
		}
		if alts := eval[[]string](tb, `[...document.querySelectorAll('.thumb img')].map(i => i.alt)`); !slices.Contains(alts, hostileName) {
			t.Errorf("thumbnail alts %q", alts)
		}
		if label := eval[[]string](tb, `[...document.querySelectorAll('.card a[download]')].map(a => a.getAttribute('aria-label'))`); !slices.Contains(label, "Download "+hostileName) {
			t.Errorf("download labels %q", label)
		}
		tb.shot("gallery-docs", false)
		tb.open("/s/" + docs.Token + "?file=file_hostile")
		if got := tb.text("h1"); got != hostileName {
			t.Errorf("detail h1 %q", got)
		}
		tb.open("/s/" + docs.Token + "?file=file_svg")
		if n := eval[int](tb, `document.querySelectorAll('img.preview').length`); n != 1 {
			t.Errorf("an SVG file previews as an image (never inline markup)")
		}
		tb.open("/s/" + docs.Token + "?file=file_page")
		if n := eval[int](tb, `document.querySelectorAll('iframe, object, embed, .preview').length`); n != 0 {
			t.Errorf("an HTML file is never embedded")
		}
	})

	t.Run("phone width", func(t *testing.T) {
		docs := e.CreateLink(map[string]any{"target": map[string]any{"type": "folder", "id": "fld_docs"}})
		tb := newTab(t, e, bctx)
		tb.do("phone", chromedp.EmulateViewport(360, 740, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
		for _, p := range []struct{ name, path string }{
			{"phone-gallery", root},
			{"phone-file", root + "?file=file_sunset"},
			{"phone-docs", "/s/" + docs.Token},
			{"phone-hostile", "/s/" + docs.Token + "?file=file_hostile"},
			{"phone-not-found", "/s/" + strings.Repeat("B", len(photos.Token))},
		} {
			tb.open(p.path)
			if w := eval[int](tb, `innerWidth`); w != 360 {
				t.Errorf("%s: viewport %d px wide, want 360", p.name, w)
			}
			if sw := eval[int](tb, `document.scrollingElement.scrollWidth`); sw > 360 {
				t.Errorf("%s: scrolls sideways (scrollWidth %d > 360)", p.name, sw)
			}
			tb.shot(p.name, false)
		}
	})

	t.Run("dark mode and contrast", func(t *testing.T) {
		tb := newTab(t, e, bctx)
		pages := []string{root, root + "?path=2024", root + "?file=file_sunset", "/s/" + strings.Repeat("C", len(photos.Token))}
		bgs := map[string]string{}
		for _, scheme := range []string{"light", "dark"} {
			tb.colorScheme(scheme)
			for _, p := range pages {
				tb.open(p)
				if bad := tb.lowContrast(); len(bad) > 0 {
					t.Errorf("%s (%s): text below 4.5:1: %v", p, scheme, bad)
				}
			}
			tb.open(root)
			bgs[scheme] = eval[string](tb, `getComputedStyle(document.body).backgroundColor`)
			if scheme == "dark" {
				tb.shot("gallery-dark", true)
			}
		}
		if bgs["light"] == bgs["dark"] {
			t.Errorf("dark mode does not change the page (background %s)", bgs["dark"])
		}
	})

	t.Run("keyboard focus is visible", func(t *testing.T) {
		tb := newTab(t, e, bctx)
		for _, p := range []string{root, root + "?file=file_sunset"} {
			tb.open(p)
			stops := 0
			for i := 0; i < 40; i++ {
				tb.do("tab", chromedp.KeyEvent(kb.Tab))
				got := eval[string](tb, `(() => { const a = document.activeElement;
					if (!a || a === document.body) return 'end';
					const el = a.classList.contains('card-link') ? a.closest('.card') : a, s = getComputedStyle(el);
					return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2 ? 'ok' : 'no visible focus: ' + a.outerHTML.slice(0, 120); })()`)
				if got == "end" {
					break
				}
				stops++
				if got != "ok" {
					t.Errorf("%s: %s", p, got)
				}
			}
			if stops < 3 {
				t.Errorf("%s: only %d keyboard stops", p, stops)
			}
		}
		// The first stop is the skip link, and it leads to the content.
		tb.open(root)
		tb.do("tab", chromedp.KeyEvent(kb.Tab))
		if got := eval[string](tb, `document.activeElement.textContent`); got != "Skip to content" {
			t.Errorf("first keyboard stop %q, want the skip link", got)
		}
	})

	t.Run("operator brand and logo", func(t *testing.T) {
		logo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			img := image.NewRGBA(image.Rect(0, 0, 32, 32))
			for i := range img.Pix {
				img.Pix[i] = 0xff
			}
			for x := 4; x < 28; x++ {
				for y := 4; y < 28; y++ {
					img.Set(x, y, color.RGBA{0x0f, 0x76, 0x6e, 0xff})
				}
			}
			w.Header().Set("Content-Type", "image/png")
			png.Encode(w, img)
		}))
		t.Cleanup(logo.Close)
		caddyfile, err := os.ReadFile(filepath.Join(repoRoot(), "Caddyfile"))
		if err != nil {
			t.Fatal(err)
		}
		branded := strings.Replace(string(caddyfile), "\tpublink {\n",
			"\tpublink {\n\t\tproduct_name \"Northwind Media\"\n\t\tlogo_url "+logo.URL+"/brand/logo.png\n", 1)
		be := NewEnv(t, Options{Caddyfile: branded})
		l := be.CreateLink(map[string]any{"target": map[string]any{"type": "folder", "id": "fld_photos"}})
		r := rawPage(t, be, "/s/"+l.Token)
		csp := r.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, logo.URL+"/brand/logo.png") {
			t.Errorf("CSP %q does not allow the configured logo", csp)
		}
		if other := rawPage(t, e, root).Header.Get("Content-Security-Policy"); strings.Contains(other, logo.URL) || strings.Contains(other, "http:") {
			t.Errorf("a gateway without a logo allows other image hosts: %q", other)
		}
		tb := newTab(t, be, bctx)
		tb.open("/s/" + l.Token)
		if got := tb.text(".brand-name"); got != "Northwind Media" {
			t.Errorf("brand %q", got)
		}
		if !strings.Contains(tb.text("footer"), "Northwind Media") {
			t.Errorf("footer %q does not name the product", tb.text("footer"))
		}
		if title := run(tb, "title", chromedp.Title()); !strings.HasSuffix(title, "Northwind Media") {
			t.Errorf("title %q", title)
		}
		if bad := tb.waitImages(); len(bad) > 0 {
			t.Errorf("images (the logo) did not load: %v", bad)
		}
		if w := eval[int](tb, `document.querySelector('.brand-logo').naturalWidth`); w != 32 {
			t.Errorf("logo not shown (naturalWidth %d)", w)
		}
		tb.shot("gallery-branded", false)
	})
}

// collectionName reads a demo collection's name from the origin's data.
func collectionName(t *testing.T, e *Env, id string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.DataDir, "collections", id+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Name string }
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.Name
}
