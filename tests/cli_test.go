package tests

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The publink links CLI, run as the built binary against a real gateway.

// publinkCLI runs `publink links args...` with env (PUBLINK_* only, nothing
// inherited from the test's environment) and stdin.
func publinkCLI(t *testing.T, env map[string]string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "publink"), append([]string{"links"}, args...)...)
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &out, &errOut, strings.NewReader(stdin)
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("running publink links %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

func TestCLI(t *testing.T) {
	e := NewEnv(t, Options{})
	env := map[string]string{"PUBLINK_API": e.AdminURL, "PUBLINK_ADMIN_KEY": e.AdminKey, "PUBLINK_ACTOR": "alice"}
	ok := func(stdin string, args ...string) string {
		t.Helper()
		out, errOut, code := publinkCLI(t, env, stdin, args...)
		if code != 0 {
			t.Fatalf("publink links %v: exit %d: %s%s", args, code, out, errOut)
		}
		return out
	}
	fails := func(env map[string]string, want string, args ...string) {
		t.Helper()
		out, errOut, code := publinkCLI(t, env, "", args...)
		if code == 0 || !strings.Contains(errOut, want) {
			t.Fatalf("publink links %v: exit %d, stderr %q, stdout %q; want failure mentioning %q", args, code, errOut, out, want)
		}
	}

	// create, with --json: the API's link JSON.
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	var folder Link
	if err := json.Unmarshal([]byte(ok("", "create", "--type", "folder", "--id", "fld_photos", "--valid-until", rfc3339(until), "--json")), &folder); err != nil {
		t.Fatal(err)
	}
	if folder.ValidUntil == nil || !folder.ValidUntil.Equal(until) || folder.CreatedBy != "alice" || folder.HasPassword {
		t.Fatalf("created %+v", folder)
	}
	expectStatus(t, e.Get("/s/"+folder.Token, nil), http.StatusOK)

	// create with a password from stdin: a table, and the password works.
	out := ok("s3cret from stdin\n", "create", "--type", "file", "--id", "file_sunset", "--password-stdin")
	var fileID string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "id" {
			fileID = f[1]
		}
	}
	if fileID == "" || !regexpLine(out, `^password\s+yes$`) || !regexpLine(out, `^target\s+file:file_sunset$`) {
		t.Fatalf("create output:\n%s", out)
	}
	file := linkOf(t, e.Admin(http.MethodGet, "/v1/links/"+fileID, "alice", nil))
	if !file.HasPassword || !strings.Contains(out, file.URL) {
		t.Fatalf("created %+v from output:\n%s", file, out)
	}
	expectStatus(t, e.Get("/s/"+file.Token+"/files", acceptJSONHdr), http.StatusUnauthorized)

	// list: a table of both; --target narrows it; --json gives items.
	out = ok("", "list")
	if !regexpLine(out, `^ID\s+TARGET\s+VALID FROM\s+VALID UNTIL\s+PASSWORD\s+URL$`) ||
		!regexpLine(out, `^`+regexp.QuoteMeta(folder.ID)+`\s+folder:fld_photos\s+-\s+`+regexp.QuoteMeta(rfc3339(until))+`\s+no\s+`+regexp.QuoteMeta(folder.URL)+`$`) ||
		!regexpLine(out, `^`+regexp.QuoteMeta(file.ID)+`\s+file:file_sunset\s+-\s+-\s+yes\s+`+regexp.QuoteMeta(file.URL)+`$`) {
		t.Fatalf("list output:\n%s", out)
	}
	out = ok("", "list", "--target", "file:file_sunset")
	if !strings.Contains(out, file.ID) || strings.Contains(out, folder.ID) {
		t.Fatalf("list --target output:\n%s", out)
	}
	var listed struct {
		Items []Link `json:"items"`
	}
	if err := json.Unmarshal([]byte(ok("", "list", "--json")), &listed); err != nil || len(listed.Items) != 2 {
		t.Fatalf("list --json: %v %+v", err, listed)
	}

	// get, by flag instead of environment.
	out, errOut, code := publinkCLI(t, map[string]string{}, "", "get", folder.ID, "--api", e.AdminURL, "--key", e.AdminKey, "--actor", "alice")
	if code != 0 || !regexpLine(out, `^url\s+`+regexp.QuoteMeta(folder.URL)+`$`) || !regexpLine(out, `^valid until\s+`+regexp.QuoteMeta(rfc3339(until))+`$`) {
		t.Fatalf("get: exit %d\n%s%s", code, out, errOut)
	}

	// update: merge semantics, the URL stays.
	out = ok("", "update", file.ID, "--remove-password", "--valid-until", rfc3339(until))
	if !regexpLine(out, `^password\s+no$`) || !regexpLine(out, `^url\s+`+regexp.QuoteMeta(file.URL)+`$`) || !regexpLine(out, `^updated\s+.* by alice$`) {
		t.Fatalf("update output:\n%s", out)
	}
	eventually(t, 2*time.Second, "the link is public again", func() bool {
		return e.Get("/s/"+file.Token+"/files", acceptJSONHdr).Status == http.StatusOK
	})
	ok("new password", "update", file.ID, "--password-stdin")
	ok("", "update", folder.ID, "--valid-until", "none", "--expose-unpublished")
	got := linkOf(t, e.Admin(http.MethodGet, "/v1/links/"+folder.ID, "alice", nil))
	if got.ValidUntil != nil || !got.ExposeUnpublished {
		t.Fatalf("after update %+v", got)
	}
	got = linkOf(t, e.Admin(http.MethodGet, "/v1/links/"+file.ID, "alice", nil))
	if !got.HasPassword || got.ValidUntil == nil || got.Token != file.Token {
		t.Fatalf("after update %+v", got)
	}
	ok("", "update", folder.ID, "--expose-unpublished=false")
	if linkOf(t, e.Admin(http.MethodGet, "/v1/links/"+folder.ID, "alice", nil)).ExposeUnpublished {
		t.Fatal("--expose-unpublished=false did not clear it")
	}

	// Errors reach the user with the API's status and code, exit non-zero.
	fails(env, "404 target_not_found", "create", "--type", "file", "--id", "file_nope")
	fails(env, "422", "create", "--type", "file", "--id", "file_sunset", "--expose-unpublished")
	fails(env, "--valid-until", "create", "--type", "file", "--id", "file_sunset", "--valid-until", "tomorrow")
	fails(env, "--type and --id", "create", "--id", "file_sunset")
	fails(env, "nothing to change", "update", file.ID)
	fails(map[string]string{"PUBLINK_API": e.AdminURL, "PUBLINK_ADMIN_KEY": e.AdminKey, "PUBLINK_ACTOR": "bob"}, "403", "create", "--type", "file", "--id", "file_readme")
	fails(map[string]string{"PUBLINK_API": e.AdminURL, "PUBLINK_ADMIN_KEY": "wrong-key-0123456789", "PUBLINK_ACTOR": "alice"}, "401", "list")
	fails(map[string]string{"PUBLINK_API": e.AdminURL, "PUBLINK_ACTOR": "alice"}, "PUBLINK_ADMIN_KEY", "list")
	fails(map[string]string{"PUBLINK_API": e.AdminURL, "PUBLINK_ADMIN_KEY": e.AdminKey}, "PUBLINK_ACTOR", "list")

	// delete.
	out = ok("", "delete", file.ID)
	if strings.TrimSpace(out) != "deleted "+file.ID {
		t.Fatalf("delete output %q", out)
	}
	wantAPIError(t, e.Admin(http.MethodGet, "/v1/links/"+file.ID, "alice", nil), http.StatusNotFound, "not_found")
	fails(env, "404 not_found", "get", file.ID)
	fails(env, "404 not_found", "delete", file.ID)
	if ls := e.listLinks(e.AdminKey, "alice", ""); len(ls) != 1 || ls[0].ID != folder.ID {
		t.Fatalf("links left: %+v", ls)
	}
	recs := e.auditFor(file.ID)
	if len(recs) == 0 || recs[0].Action != "link.deleted" || recs[0].Reason != "api" || recs[0].Actor != "alice" {
		t.Fatalf("audit after CLI delete: %+v", recs)
	}
}

// regexpLine reports whether some line of out matches pattern.
func regexpLine(out, pattern string) bool {
	return regexp.MustCompile("(?m)" + pattern).MatchString(strings.ReplaceAll(out, "\r", ""))
}
