package caddymodule

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("publink", parseGlobalOption)
	httpcaddyfile.RegisterHandlerDirective("publink", parseHandler)
	httpcaddyfile.RegisterHandlerDirective("publink_admin", parseAdmin)
	// Share links answer before anything that would serve or proxy the
	// same paths.
	httpcaddyfile.RegisterDirectiveOrder("publink", httpcaddyfile.Before, "respond")
	httpcaddyfile.RegisterDirectiveOrder("publink_admin", httpcaddyfile.Before, "respond")
}

// parseGlobalOption sets up the publink app:
//
//	{
//		publink {
//			origin                <url>
//			origin_secret         <secret>
//			origin_timeout        <duration>
//			redis                 <url>            # empty or absent: embedded store
//			data_dir              <dir>
//			public_url            <url>
//			cookie_key            <key>            # repeat to rotate; the first signs
//			insecure_cookies      [true|false]
//			webhook_secret        <whsec_…>
//			admin_key             <account> <key>  # hashed here unless a {placeholder}
//			admin_key_sha256      <account> <hex>
//			max_links_per_target  <n>
//			max_links_per_account <n>
//			max_age               <duration>
//			public_fields         <field> …
//			throttle_ip           <failures> <window>
//			throttle_link         <failures> <window>
//			hash_concurrency      <n>
//			cache_ttl             <duration>
//			identity_header       <header>
//			product_name          <name>
//			logo_url              <url>
//		}
//	}
func parseGlobalOption(d *caddyfile.Dispenser, existing any) (any, error) {
	app := new(App)
	if existing != nil {
		return nil, d.Err("publink: the global option may appear only once")
	}
	d.Next() // option name
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for d.NextBlock(0) {
		name := d.Val()
		args := d.RemainingArgs()
		need := func(n int) error {
			if len(args) != n {
				return d.Errf("publink: %s takes %d argument(s), got %d", name, n, len(args))
			}
			return nil
		}
		var err error
		switch name {
		case "origin", "origin_secret", "redis", "data_dir", "public_url", "webhook_secret",
			"identity_header", "product_name", "logo_url":
			// Empty values (an unset {$ENV}) leave the default.
			if len(args) > 1 {
				return nil, d.Errf("publink: %s takes one argument", name)
			}
			val := ""
			if len(args) == 1 {
				val = args[0]
			}
			*stringField(app, name) = val
		case "cookie_key":
			if err = need(1); err == nil {
				app.CookieKeys = append(app.CookieKeys, args[0])
			}
		case "insecure_cookies":
			app.InsecureCookies = true
			if len(args) == 1 {
				app.InsecureCookies, err = strconv.ParseBool(args[0])
				if err != nil {
					return nil, d.Errf("publink: insecure_cookies: %q is not true or false", args[0])
				}
			} else if len(args) > 1 {
				return nil, d.ArgErr()
			}
		case "admin_key":
			if err = need(2); err == nil {
				app.AdminKeys = append(app.AdminKeys, adminKeyFromCaddyfile(args[0], args[1]))
			}
		case "admin_key_sha256":
			if err = need(2); err == nil {
				app.AdminKeys = append(app.AdminKeys, AdminKey{Account: args[0], KeySHA256: args[1]})
			}
		case "max_links_per_target":
			err = intArg(d, name, args, &app.MaxLinksPerTarget)
		case "max_links_per_account":
			err = intArg(d, name, args, &app.MaxLinksPerAccount)
		case "hash_concurrency":
			err = intArg(d, name, args, &app.HashConcurrency)
		case "origin_timeout":
			err = durationArg(d, name, args, &app.OriginTimeout)
		case "max_age":
			err = durationArg(d, name, args, &app.MaxAge)
		case "cache_ttl":
			err = durationArg(d, name, args, &app.CacheTTL)
		case "public_fields":
			if len(args) == 0 {
				return nil, d.Errf("publink: public_fields needs at least one field")
			}
			app.PublicFields = args
		case "throttle_ip":
			if err = need(2); err == nil {
				if err = intArg(d, name, args[:1], &app.IPFailures); err == nil {
					err = durationArg(d, name, args[1:], &app.IPWindow)
				}
			}
		case "throttle_link":
			if err = need(2); err == nil {
				if err = intArg(d, name, args[:1], &app.LinkFailures); err == nil {
					err = durationArg(d, name, args[1:], &app.LinkWindow)
				}
			}
		default:
			return nil, d.Errf("publink: unknown option %q", name)
		}
		if err != nil {
			return nil, err
		}
	}
	return httpcaddyfile.App{Name: "publink", Value: caddyconfig.JSON(app, nil)}, nil
}

// adminKeyFromCaddyfile keeps a placeholder for load time and hashes a
// literal key now, so the adapted JSON never holds it.
func adminKeyFromCaddyfile(account, key string) AdminKey {
	if strings.Contains(key, "{") {
		return AdminKey{Account: account, Key: key}
	}
	sum := sha256.Sum256([]byte(key))
	return AdminKey{Account: account, KeySHA256: hex.EncodeToString(sum[:])}
}

func stringField(app *App, name string) *string {
	switch name {
	case "origin":
		return &app.Origin
	case "origin_secret":
		return &app.OriginSecret
	case "redis":
		return &app.Redis
	case "data_dir":
		return &app.DataDir
	case "public_url":
		return &app.PublicURL
	case "webhook_secret":
		return &app.WebhookSecret
	case "identity_header":
		return &app.IdentityHeader
	case "product_name":
		return &app.ProductName
	default:
		return &app.LogoURL
	}
}

func intArg(d *caddyfile.Dispenser, name string, args []string, into *int) error {
	if len(args) != 1 {
		return d.Errf("publink: %s takes one number", name)
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 0 {
		return d.Errf("publink: %s: %q is not a non-negative whole number", name, args[0])
	}
	*into = n
	return nil
}

func durationArg(d *caddyfile.Dispenser, name string, args []string, into *caddy.Duration) error {
	if len(args) != 1 {
		return d.Errf("publink: %s takes one duration", name)
	}
	dur, err := caddy.ParseDuration(args[0])
	if err != nil || dur < 0 {
		return d.Errf("publink: %s: %q is not a duration", name, args[0])
	}
	*into = caddy.Duration(dur)
	return nil
}

// parseHandler sets up the visitor routes; all settings live in the global
// publink option:
//
//	publink
func parseHandler(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next()
	if h.NextArg() || h.NextBlock(0) {
		return nil, h.Err("publink: the publink directive takes no arguments; configure the global publink option")
	}
	return new(Handler), nil
}

// parseAdmin sets up the admin API under /v1/:
//
//	publink_admin
func parseAdmin(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next()
	if h.NextArg() || h.NextBlock(0) {
		return nil, h.Err("publink_admin: the directive takes no arguments; configure the global publink option")
	}
	return new(Admin), nil
}
