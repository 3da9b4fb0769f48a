// Command publink is Caddy with its standard modules and the publink module.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/publink/publink/caddymodule"
)

func main() {
	caddycmd.Main()
}
