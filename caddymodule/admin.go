package caddymodule

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/publink/publink/origin"
	"github.com/publink/publink/policy"
	"github.com/publink/publink/store"
)

func init() {
	caddy.RegisterModule(new(Admin))
}

// Admin serves the admin API (SPEC §5) under /v1/. Requests elsewhere go to
// the next handler.
type Admin struct {
	app    *App
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (*Admin) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.publink_admin", New: func() caddy.Module { return new(Admin) }}
}

// Provision finds the publink app.
func (ad *Admin) Provision(ctx caddy.Context) error {
	ad.logger = ctx.Logger()
	app, err := ctx.App("publink")
	if err != nil {
		return err
	}
	ad.app = app.(*App)
	return nil
}

// maxAdminBody bounds an admin request body.
const maxAdminBody = 64 << 10

// adminError is an admin API failure with its status and code.
type adminError struct {
	status  int
	code    string
	message string
}

func (e *adminError) Error() string { return e.code + ": " + e.message }

func errf(status int, code, format string, args ...any) *adminError {
	return &adminError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// adminCall is one authenticated admin request.
type adminCall struct {
	ad      *Admin
	w       http.ResponseWriter
	r       *http.Request
	account string
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (ad *Admin) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	p := r.URL.Path
	if p != "/v1" && !strings.HasPrefix(p, "/v1/") {
		return next.ServeHTTP(w, r)
	}
	w.Header().Set("Cache-Control", "no-store")
	err := ad.serve(w, r)
	var ae *adminError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ae):
	case errors.Is(err, store.ErrInvalidCursor):
		// A cursor the store did not make is the client's error, not a 500.
		ae = errf(http.StatusUnprocessableEntity, "invalid_cursor", "cursor must be a next value from an earlier page")
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, origin.ErrUnavailable):
		ad.logger.Warn("admin call failed", zap.Error(err))
		w.Header().Set("Retry-After", "2")
		ae = errf(http.StatusServiceUnavailable, "unavailable", "a backing service is unavailable; try again")
	default:
		ad.logger.Error("admin call failed", zap.Error(err))
		ae = errf(http.StatusInternalServerError, "internal", "internal error")
	}
	return writeJSON(w, r, ae.status, apiError{apiErrorBody{Code: ae.code, Message: ae.message}})
}

func (ad *Admin) serve(w http.ResponseWriter, r *http.Request) error {
	segs := strings.Split(strings.TrimPrefix(r.URL.Path, "/v1/"), "/")
	if len(segs) == 1 && segs[0] == "events" {
		if r.Method != http.MethodPost {
			return methodErr(w, "POST")
		}
		return ad.events(w, r)
	}
	acct, ok := ad.authenticate(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="publink"`)
		return errf(http.StatusUnauthorized, "unauthorized", "missing or invalid bearer key")
	}
	c := &adminCall{ad: ad, w: w, r: r, account: acct}
	switch {
	case len(segs) == 1 && segs[0] == "links":
		switch r.Method {
		case http.MethodPost:
			return c.createLink()
		case http.MethodGet, http.MethodHead:
			return c.listLinks()
		}
		return methodErr(w, "GET, POST")
	case len(segs) == 2 && segs[0] == "links" && segs[1] != "":
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			return c.getLink(segs[1])
		case http.MethodPatch:
			return c.updateLink(segs[1])
		case http.MethodDelete:
			return c.deleteLink(segs[1])
		}
		return methodErr(w, "GET, PATCH, DELETE")
	case len(segs) == 1 && segs[0] == "audit":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return methodErr(w, "GET")
		}
		return c.listAudit()
	case len(segs) == 1 && segs[0] == "downloads":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return methodErr(w, "GET")
		}
		return c.listDownloads()
	}
	return errf(http.StatusNotFound, "not_found", "no such endpoint")
}

func methodErr(w http.ResponseWriter, allow string) error {
	w.Header().Set("Allow", allow)
	return errf(http.StatusMethodNotAllowed, "method_not_allowed", "allowed: %s", allow)
}

// authenticate maps a bearer key to its account, comparing hashes in
// constant time.
func (ad *Admin) authenticate(r *http.Request) (string, bool) {
	// The scheme name is case-insensitive (RFC 9110 §11.1).
	scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" {
		return "", false
	}
	sum := sha256.Sum256([]byte(key))
	account, found := "", false
	for h, acct := range ad.app.adminKeys {
		if subtle.ConstantTimeCompare(h[:], sum[:]) == 1 {
			account, found = acct, true
		}
	}
	return account, found
}

// decodeBody decodes a JSON body strictly: unknown fields, trailing data,
// bytes that are not UTF-8 and the keys checkKeys refuses are errors.
func (c *adminCall) decodeBody(into any) error {
	body, err := io.ReadAll(io.LimitReader(c.r.Body, maxAdminBody+1))
	if err != nil {
		return errf(http.StatusBadRequest, "bad_request", "reading body: %v", err)
	}
	if len(body) > maxAdminBody {
		return errf(http.StatusRequestEntityTooLarge, "too_large", "body over %d bytes", maxAdminBody)
	}
	// encoding/json would turn invalid bytes into U+FFFD silently, so a
	// password set from them could never be typed in again.
	if !utf8.Valid(body) {
		return errf(http.StatusBadRequest, "malformed_json", "the body is not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		// Well-formed JSON with a value of the wrong type is an invalid
		// value, not a malformed body.
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			field, _, _ := strings.Cut(te.Field, ".")
			return errf(http.StatusUnprocessableEntity, "invalid_"+field, "%s must not be a JSON %s", te.Field, te.Value)
		}
		if strings.HasPrefix(err.Error(), "json: unknown field ") {
			return errf(http.StatusBadRequest, "unknown_field", "%v", strings.TrimPrefix(err.Error(), "json: "))
		}
		return errf(http.StatusBadRequest, "malformed_json", "%v", err)
	}
	// Only whitespace may follow (dec.More would miss a stray '}' or ']').
	if _, err := dec.Token(); err != io.EOF {
		return errf(http.StatusBadRequest, "malformed_json", "trailing data after the JSON object")
	}
	return checkKeys(body, jsonFieldNames(reflect.TypeOf(into)))
}

// checkKeys refuses what encoding/json lets through silently: a key given
// twice in one object (parsers disagree on which one wins) and, when names
// is not nil, a key that is not exactly a field name ("Password" and
// "TARGET" match fields only when case is ignored). body is valid JSON.
func checkKeys(body []byte, names map[string]bool) error {
	type level struct {
		keys    map[string]bool // nil for an array
		wantKey bool
	}
	var stack []*level
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // io.EOF: the body was decoded before
		}
		if n := len(stack); n > 0 && stack[n-1].wantKey {
			if k, ok := tok.(string); ok {
				if stack[n-1].keys[k] {
					return errf(http.StatusBadRequest, "malformed_json", "field %q is given twice", k)
				}
				if names != nil && !names[k] {
					return errf(http.StatusBadRequest, "unknown_field", "unknown field %q", k)
				}
				stack[n-1].keys[k], stack[n-1].wantKey = true, false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &level{keys: map[string]bool{}, wantKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, &level{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value ended: an enclosing object expects a key next.
		if n := len(stack); n > 0 && stack[n-1].keys != nil {
			stack[n-1].wantKey = true
		}
	}
}

// jsonFieldNames lists the JSON names of the fields of the struct t is or
// points to, nested structs included; nil when t holds no struct (a map
// takes any key).
func jsonFieldNames(t reflect.Type) map[string]bool {
	var names map[string]bool
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == reflect.TypeFor[time.Time]() {
			return
		}
		if names == nil {
			names = map[string]bool{}
		}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			names[name] = true
			walk(f.Type)
		}
	}
	walk(t)
	return names
}

// linkView is the admin API's link JSON: never the password or its hash.
type linkView struct {
	ID                string        `json:"id"`
	Token             string        `json:"token"`
	URL               string        `json:"url"`
	Target            policy.Target `json:"target"`
	ValidFrom         *time.Time    `json:"validFrom"`
	ValidUntil        *time.Time    `json:"validUntil"`
	HasPassword       bool          `json:"hasPassword"`
	ExposeUnpublished bool          `json:"exposeUnpublished"`
	CreatedAt         time.Time     `json:"createdAt"`
	CreatedBy         string        `json:"createdBy"`
	UpdatedAt         time.Time     `json:"updatedAt"`
	UpdatedBy         string        `json:"updatedBy"`
}

func (a *App) view(l *policy.Link) linkView {
	return linkView{
		ID: l.ID, Token: l.Token, URL: a.shareURL(l.Token), Target: l.Target,
		ValidFrom: l.ValidFrom, ValidUntil: l.ValidUntil, HasPassword: l.HasPassword(),
		ExposeUnpublished: l.ExposeUnpublished, CreatedAt: l.CreatedAt, CreatedBy: l.CreatedBy,
		UpdatedAt: l.UpdatedAt, UpdatedBy: l.UpdatedBy,
	}
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Admin)(nil)
	_ caddyhttp.MiddlewareHandler = (*Admin)(nil)
)
