package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "links",
		Usage: "create|list|get|update|delete [flags]",
		Short: "Manages publink share links through the admin API",
		Long: `
Creates, lists, shows, changes and deletes share links by calling a running
gateway's admin API (the publink_admin directive).

Every call needs the admin API's bearer key (--key or PUBLINK_ADMIN_KEY) and
the library user on whose behalf it acts (--actor or PUBLINK_ACTOR); the
gateway checks that user's permission on the target with the origin.
Prefer the environment variable for the key: command-line flags are visible
to other users of the machine.

Passwords are read from standard input (--password-stdin), never from a flag.
Times are RFC 3339 (2030-01-31T18:00:00Z). Output is a table; --json prints
the API's JSON.

  publink links create --type folder --id fld_photos --valid-until 2030-01-31T18:00:00Z
  printf %s "$PW" | publink links update lnk_123 --password-stdin
  publink links list --target file:file_sunset
  publink links delete lnk_123
`,
		CobraFunc: linksCommand,
	})
}

// defaultAdminAPI is where the example Caddyfile serves the admin API.
const defaultAdminAPI = "http://127.0.0.1:8081"

func linksCommand(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.String("api", "", "admin API base URL (default $PUBLINK_API or "+defaultAdminAPI+")")
	pf.String("key", "", "admin API bearer key (default $PUBLINK_ADMIN_KEY)")
	pf.String("actor", "", "library user acting (default $PUBLINK_ACTOR)")
	pf.Bool("json", false, "print the API's JSON")

	create := &cobra.Command{
		Use:   "create --type file|folder|collection --id ID [flags]",
		Short: "Creates a share link",
		Args:  cobra.NoArgs,
		RunE:  runCLI(cliCreate),
	}
	linkFlags(create)
	create.Flags().String("type", "", "target type: file, folder or collection")
	create.Flags().String("id", "", "target id at the origin")

	list := &cobra.Command{
		Use:   "list [--target type:id]",
		Short: "Lists the account's links, or one target's",
		Args:  cobra.NoArgs,
		RunE:  runCLI(cliList),
	}
	list.Flags().String("target", "", "only links of this target (type:id)")

	get := &cobra.Command{
		Use:   "get ID",
		Short: "Shows one link",
		Args:  cobra.ExactArgs(1),
		RunE:  runCLI(cliGet),
	}

	update := &cobra.Command{
		Use:   "update ID [flags]",
		Short: "Changes a link's window, password or exposeUnpublished (the URL stays)",
		Args:  cobra.ExactArgs(1),
		RunE:  runCLI(cliUpdate),
	}
	linkFlags(update)
	update.Flags().Bool("remove-password", false, "remove the password: the link becomes public")

	del := &cobra.Command{
		Use:   "delete ID",
		Short: "Deletes a link",
		Args:  cobra.ExactArgs(1),
		RunE:  runCLI(cliDelete),
	}
	cmd.AddCommand(create, list, get, update, del)
}

// linkFlags are the settings create and update share.
func linkFlags(c *cobra.Command) {
	c.Flags().String("valid-from", "", `RFC 3339 time the link starts working ("none" clears it on update)`)
	c.Flags().String("valid-until", "", `RFC 3339 time the link stops working ("none" clears it on update)`)
	c.Flags().Bool("password-stdin", false, "read the link's password from standard input")
	c.Flags().Bool("expose-unpublished", false, "show unpublished files of a folder or collection link")
}

// cliCall is one CLI invocation's connection to the admin API.
type cliCall struct {
	cmd    *cobra.Command
	args   []string
	api    string
	key    string
	actor  string
	asJSON bool
	client *http.Client
}

func runCLI(fn func(*cliCall) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c := &cliCall{cmd: cmd, args: args, client: &http.Client{Timeout: 30 * time.Second}}
		c.api = flagOrEnv(cmd, "api", "PUBLINK_API")
		if c.api == "" {
			c.api = defaultAdminAPI
		}
		c.api = strings.TrimRight(c.api, "/")
		c.key = flagOrEnv(cmd, "key", "PUBLINK_ADMIN_KEY")
		c.actor = flagOrEnv(cmd, "actor", "PUBLINK_ACTOR")
		c.asJSON, _ = cmd.Flags().GetBool("json")
		if c.key == "" {
			return errors.New("no admin key: set PUBLINK_ADMIN_KEY or --key")
		}
		if c.actor == "" {
			return errors.New("no actor: set PUBLINK_ACTOR or --actor to the acting library user's id")
		}
		return fn(c)
	}
}

func flagOrEnv(cmd *cobra.Command, name, env string) string {
	if v, _ := cmd.Flags().GetString(name); v != "" {
		return v
	}
	return os.Getenv(env)
}

// cliError is an admin API error answer.
type cliError struct {
	status        int
	code, message string
}

func (e *cliError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.status, e.code, e.message)
}

// do sends one admin API request and returns the body of a 2xx answer.
func (c *cliCall) do(method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, c.api+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("X-Publink-Actor", c.actor)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		var ae apiError
		if json.Unmarshal(out, &ae) != nil || ae.Error.Code == "" {
			return nil, &cliError{status: resp.StatusCode, code: "http_error", message: strings.TrimSpace(string(out))}
		}
		return nil, &cliError{status: resp.StatusCode, code: ae.Error.Code, message: ae.Error.Message}
	}
	return out, nil
}

// linkBody collects create/update settings from flags; on update, "none"
// clears a time and only flags given are sent (a merge patch).
func (c *cliCall) linkBody(update bool) (map[string]any, error) {
	fl := c.cmd.Flags()
	body := map[string]any{}
	for flag, field := range map[string]string{"valid-from": "validFrom", "valid-until": "validUntil"} {
		if !fl.Changed(flag) {
			continue
		}
		v, _ := fl.GetString(flag)
		if update && (v == "" || v == "none") {
			body[field] = nil
			continue
		}
		if _, err := time.Parse(time.RFC3339, v); err != nil {
			return nil, fmt.Errorf("--%s: %q is not an RFC 3339 time such as 2030-01-31T18:00:00Z", flag, v)
		}
		body[field] = v
	}
	if fl.Changed("expose-unpublished") {
		body["exposeUnpublished"], _ = fl.GetBool("expose-unpublished")
	}
	stdin, _ := fl.GetBool("password-stdin")
	remove := false
	if update {
		remove, _ = fl.GetBool("remove-password")
	}
	switch {
	case stdin && remove:
		return nil, errors.New("--password-stdin and --remove-password exclude each other")
	case remove:
		body["password"] = nil
	case stdin:
		pw, err := passwordFromStdin(c.cmd.InOrStdin())
		if err != nil {
			return nil, err
		}
		body["password"] = pw
	}
	return body, nil
}

// passwordFromStdin reads one password from r, without its line ending.
func passwordFromStdin(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxPasswordLen+3))
	if err != nil {
		return "", fmt.Errorf("reading the password from stdin: %v", err)
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if pw == "" {
		return "", errors.New("--password-stdin: standard input holds no password")
	}
	if len(pw) > maxPasswordLen {
		return "", fmt.Errorf("--password-stdin: the password is over %d bytes", maxPasswordLen)
	}
	return pw, nil
}

func cliCreate(c *cliCall) error {
	typ, _ := c.cmd.Flags().GetString("type")
	id, _ := c.cmd.Flags().GetString("id")
	if typ == "" || id == "" {
		return errors.New("--type and --id name the target, e.g. --type folder --id fld_photos")
	}
	body, err := c.linkBody(false)
	if err != nil {
		return err
	}
	body["target"] = map[string]string{"type": typ, "id": id}
	out, err := c.do(http.MethodPost, "/v1/links", body)
	if err != nil {
		return err
	}
	return c.printLink(out)
}

func cliGet(c *cliCall) error {
	out, err := c.do(http.MethodGet, "/v1/links/"+url.PathEscape(c.args[0]), nil)
	if err != nil {
		return err
	}
	return c.printLink(out)
}

func cliUpdate(c *cliCall) error {
	body, err := c.linkBody(true)
	if err != nil {
		return err
	}
	if len(body) == 0 {
		return errors.New("nothing to change: give --valid-from, --valid-until, --expose-unpublished, --password-stdin or --remove-password")
	}
	out, err := c.do(http.MethodPatch, "/v1/links/"+url.PathEscape(c.args[0]), body)
	if err != nil {
		return err
	}
	return c.printLink(out)
}

func cliDelete(c *cliCall) error {
	if _, err := c.do(http.MethodDelete, "/v1/links/"+url.PathEscape(c.args[0]), nil); err != nil {
		return err
	}
	if !c.asJSON {
		fmt.Fprintf(c.cmd.OutOrStdout(), "deleted %s\n", c.args[0])
	}
	return nil
}

func cliList(c *cliCall) error {
	q := url.Values{}
	if t, _ := c.cmd.Flags().GetString("target"); t != "" {
		q.Set("target", t)
	}
	q.Set("limit", "500")
	var items []json.RawMessage
	for range 10_000 {
		out, err := c.do(http.MethodGet, "/v1/links?"+q.Encode(), nil)
		if err != nil {
			return err
		}
		var page struct {
			Items []json.RawMessage `json:"items"`
			Next  string            `json:"next"`
		}
		if err := json.Unmarshal(out, &page); err != nil {
			return fmt.Errorf("unexpected answer: %v", err)
		}
		items = append(items, page.Items...)
		if page.Next == "" {
			break
		}
		q.Set("cursor", page.Next)
	}
	w := c.cmd.OutOrStdout()
	if c.asJSON {
		if items == nil {
			items = []json.RawMessage{}
		}
		return json.NewEncoder(w).Encode(map[string]any{"items": items})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTARGET\tVALID FROM\tVALID UNTIL\tPASSWORD\tURL")
	for _, raw := range items {
		var l linkView
		if err := json.Unmarshal(raw, &l); err != nil {
			return fmt.Errorf("unexpected answer: %v", err)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", l.ID, l.Target, cliTime(l.ValidFrom), cliTime(l.ValidUntil), yesNo(l.HasPassword), l.URL)
	}
	return tw.Flush()
}

// printLink prints one link JSON answer.
func (c *cliCall) printLink(body []byte) error {
	w := c.cmd.OutOrStdout()
	if c.asJSON {
		_, err := w.Write(body)
		return err
	}
	var l linkView
	if err := json.Unmarshal(body, &l); err != nil {
		return fmt.Errorf("unexpected answer: %v", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, row := range [][2]string{
		{"id", l.ID},
		{"url", l.URL},
		{"target", l.Target.String()},
		{"valid from", cliTime(l.ValidFrom)},
		{"valid until", cliTime(l.ValidUntil)},
		{"password", yesNo(l.HasPassword)},
		{"expose unpublished", yesNo(l.ExposeUnpublished)},
		{"created", l.CreatedAt.UTC().Format(time.RFC3339) + " by " + l.CreatedBy},
		{"updated", l.UpdatedAt.UTC().Format(time.RFC3339) + " by " + l.UpdatedBy},
	} {
		fmt.Fprintf(tw, "%s\t%s\n", row[0], row[1])
	}
	return tw.Flush()
}

func cliTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
