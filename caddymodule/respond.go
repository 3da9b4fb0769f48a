package caddymodule

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"go.uber.org/zap"
)

// copyBufs are the buffers content is streamed through.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// zipBufs are the larger buffers zip entries are copied through: one zip
// streams many MiB per request, and fewer, larger reads and writes cost
// less per MiB. Content keeps 32 KiB buffers (as reverse_proxy does) so
// many slow visitors cannot pin much memory each.
var zipBufs = sync.Pool{New: func() any { b := make([]byte, 128<<10); return &b }}

// writeOnly passes Write only, so io.CopyBuffer uses the buffer it is given
// instead of the destination's ReadFrom (see visit.blob).
type writeOnly struct{ w io.Writer }

func (w writeOnly) Write(p []byte) (int, error) { return w.w.Write(p) }

// writeJSON is the one JSON writer: it encodes fully before writing, so an
// encoding error never leaves half a body.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) error {
	body, err := encodeJSON(v)
	if err != nil {
		return err
	}
	return writeJSONBody(w, r, status, body)
}

// encodeJSON is writeJSON's encoding, for bodies that are kept (listingJSON).
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(true)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeJSONBody writes a body made by encodeJSON.
func writeJSONBody(w http.ResponseWriter, r *http.Request, status int, body []byte) error {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return nil
	}
	// A failed write means the client went away; there is no one left to
	// answer. It is not returned: Caddy would log it with the request's
	// full URI, share token included (SPEC §4).
	w.Write(body)
	return nil
}

// apiError is the body of every JSON error.
type apiError struct {
	Error apiErrorBody `json:"error"`
}

type apiErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message,omitempty"`
}

// wantsJSON reports whether the client asked for JSON rather than a page.
// Only the Accept header decides, so two requests with the same Accept get
// byte-identical error bodies whatever else differs.
func wantsJSON(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	j := strings.Index(accept, "application/json")
	if j < 0 {
		return false
	}
	h := strings.Index(accept, "text/html")
	return h < 0 || j < h
}

// visitorError writes a visitor error: JSON or the matching page, never
// cacheable.
func (h *Handler) visitorError(w http.ResponseWriter, r *http.Request, status int, code, message string) error {
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Del("Surrogate-Key")
	hdr.Del("Cache-Tag")
	if wantsJSON(r) {
		return writeJSON(w, r, status, apiError{apiErrorBody{Code: code, Message: message}})
	}
	return h.renderPage(w, r, status, errorPage(status, message))
}

// notFound is the one answer for unknown, expired, not-yet-valid and
// deleted links and out-of-scope files: nothing in it depends on which.
func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) error {
	return h.visitorError(w, r, http.StatusNotFound, "not_found", "This link does not exist or is no longer available.")
}

func (h *Handler) methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) error {
	w.Header().Set("Allow", allow)
	return h.visitorError(w, r, http.StatusMethodNotAllowed, "method_not_allowed", "This method is not allowed here.")
}

// unavailable fails closed when the store or origin cannot answer.
func (h *Handler) unavailable(w http.ResponseWriter, r *http.Request, err error) error {
	h.logger.Warn("failing closed", zap.String("path_kind", routeKind(r)), zap.Error(err))
	w.Header().Set("Retry-After", "2")
	return h.visitorError(w, r, http.StatusServiceUnavailable, "unavailable", "The service is temporarily unavailable. Please try again shortly.")
}

// routeKind names a request's route for logs without its token.
func routeKind(r *http.Request) string {
	if rt, ok := parseRoute(r.URL.EscapedPath()); ok {
		return rt.kind
	}
	return "unknown"
}
