package caddymodule

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/publink/publink/policy"
)

// TODO(issue 3): unlock cookies.
func (a *App) unlocked(r *http.Request, l *policy.Link, now time.Time) bool { return false }

// TODO(issue 3)
func (v *visit) unlock() error { return v.h.notFound(v.w, v.r) }

// TODO(issue 3): argon2id.
func (a *App) hashPassword(ctx context.Context, pw string) (string, error) {
	return "", errors.New("passwords are not supported yet")
}
