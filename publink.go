// Package publink is the Caddy plugin's import path: `xcaddy build --with
// github.com/publink/publink` imports it, which registers the publink app,
// the publink and publink_admin handlers, their Caddyfile directives and
// the `publink links` command. The code lives in caddymodule/.
package publink

import (
	// Registers every publink module with Caddy.
	_ "github.com/publink/publink/caddymodule"
)
