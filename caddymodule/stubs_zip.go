package caddymodule

import "net/http"

// TODO(issue 5)
func (v *visit) zip() error { return v.h.notFound(v.w, v.r) }

// TODO(issue 5)
func (v *visit) downloads() error {
	return writeJSON(v.w, v.r, http.StatusOK, map[string]any{"items": []any{}})
}
