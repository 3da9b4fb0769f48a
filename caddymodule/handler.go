package caddymodule

import (
	"errors"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/publink/publink/policy"
	"github.com/publink/publink/store"
)

func init() {
	caddy.RegisterModule(new(Handler))
}

// Handler serves the visitor routes under /s/ (SPEC §3). Requests outside
// the base path go to the next handler.
type Handler struct {
	app    *App
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (*Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.publink", New: func() caddy.Module { return new(Handler) }}
}

// Provision finds the publink app.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	app, err := ctx.App("publink")
	if err != nil {
		return err
	}
	h.app = app.(*App)
	return nil
}

// route is a parsed visitor URL.
type route struct {
	token  string
	kind   string // page, list, file, content, thumbnail, zip, downloads, unlock
	fileID string
}

// parseRoute splits an escaped path below the base path. Tokens and ids are
// plain ASCII, so any escape, dot segment or stray slash makes it unknown.
func parseRoute(escapedPath string) (route, bool) {
	rest, ok := strings.CutPrefix(escapedPath, defaultBasePath+"/")
	if !ok {
		return route{}, false
	}
	seg := strings.Split(rest, "/")
	var r route
	if !policy.ValidID(seg[0]) {
		return route{}, false
	}
	r.token = seg[0]
	switch {
	case len(seg) == 1:
		r.kind = "page"
	case len(seg) == 2 && seg[1] == "files":
		r.kind = "list"
	case len(seg) == 2 && seg[1] == "download.zip":
		r.kind = "zip"
	case len(seg) == 2 && seg[1] == "downloads":
		r.kind = "downloads"
	case len(seg) == 2 && seg[1] == "unlock":
		r.kind = "unlock"
	case len(seg) >= 3 && seg[1] == "files" && policy.ValidID(seg[2]):
		r.fileID = seg[2]
		switch {
		case len(seg) == 3:
			r.kind = "file"
		case len(seg) == 4 && seg[3] == "content":
			r.kind = "content"
		case len(seg) == 4 && seg[3] == "thumbnail":
			r.kind = "thumbnail"
		default:
			return route{}, false
		}
	default:
		return route{}, false
	}
	return r, true
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	// Visitors never get to speak for the gateway.
	for k := range r.Header {
		if strings.HasPrefix(k, "X-Publink-") {
			delete(r.Header, k)
		}
	}
	esc := r.URL.EscapedPath()
	if esc != defaultBasePath && !strings.HasPrefix(esc, defaultBasePath+"/") {
		return next.ServeHTTP(w, r)
	}
	w, observed := h.app.metrics.observeVisitor(w, r)
	defer observed()
	hdr := w.Header()
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Robots-Tag", "noindex")
	hdr.Set("X-Content-Type-Options", "nosniff")

	rt, ok := parseRoute(esc)
	if !ok {
		if !readMethod(r.Method) {
			return h.methodNotAllowed(w, r, "GET, HEAD")
		}
		return h.notFound(w, r)
	}
	if rt.kind == "unlock" {
		if r.Method != http.MethodPost {
			return h.methodNotAllowed(w, r, "POST")
		}
	} else if !readMethod(r.Method) {
		return h.methodNotAllowed(w, r, "GET, HEAD")
	}

	link, err := h.app.lookupToken(r.Context(), rt.token)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return h.notFound(w, r)
		}
		return h.unavailable(w, r, err)
	}
	now := h.app.now()
	if !link.Live(now) {
		if link.Expired(now) {
			h.app.removeLinkAsync(link, "system", "expired")
		}
		return h.notFound(w, r)
	}
	tag := "publink-link-" + link.ID
	hdr.Set("Surrogate-Key", tag)
	hdr.Set("Cache-Tag", tag)

	v := &visit{h: h, w: w, r: r, link: link, rt: rt, now: now}
	if link.HasPassword() {
		// Every route checks the target first, so a protected link whose
		// target was deleted or moved answers the common 404 (and is
		// removed) rather than asking for a password nobody needs.
		if sc, err := v.scope(); sc == nil {
			return err
		}
	}
	if rt.kind == "unlock" {
		return v.unlock()
	}
	if link.HasPassword() && !h.app.unlocked(r, link, now) {
		return h.passwordRequired(w, r, link, http.StatusUnauthorized, "")
	}
	switch rt.kind {
	case "page":
		return v.page()
	case "list":
		return v.list()
	case "file":
		return v.file()
	case "content", "thumbnail":
		return v.blob(rt.kind)
	case "zip":
		return v.zip()
	case "downloads":
		return v.downloads()
	}
	return h.notFound(w, r)
}

func readMethod(m string) bool { return m == http.MethodGet || m == http.MethodHead }

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
