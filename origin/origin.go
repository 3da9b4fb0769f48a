// Package origin is the gateway's client for the origin media store (SPEC
// §6). It is the one place that builds origin URLs: every id is checked with
// policy.ValidID and path-escaped, and no visitor query or path segment is
// ever copied into a request, so no version selector can reach the origin.
// Every request is signed with originauth.
package origin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/publink/publink/originauth"
	"github.com/publink/publink/policy"
)

// ErrNotFound means the origin answered 404 (or the id was not valid).
var ErrNotFound = errors.New("origin: not found")

// ErrUnavailable wraps every other failure: network errors, 5xx, bad JSON.
var ErrUnavailable = errors.New("origin: unavailable")

// maxJSON bounds an origin JSON body; a listing page of 1000 files fits.
const maxJSON = 32 << 20

// File is the part of the origin's file object the gateway reasons about;
// Raw keeps every field, decoded one level, for the allow-list.
type File struct {
	Type        string `json:"type"`
	FileID      string `json:"fileId"`
	Name        string `json:"name"`
	FilePath    string `json:"filePath"`
	IsPublished *bool  `json:"isPublished"`
	Mime        string `json:"mime"`
	Size        int64  `json:"size"`
	FileType    string `json:"fileType"`
	Width       int    `json:"width"`
	Height      int    `json:"height"`
	// Folder entries of a listing.
	FolderID   string `json:"folderId"`
	FolderPath string `json:"folderPath"`

	Raw map[string]json.RawMessage `json:"-"`
}

// Published reports the draft state; ImageKit treats a missing flag as
// published.
func (f *File) Published() bool { return f.IsPublished == nil || *f.IsPublished }

// UnmarshalJSON fills both the typed fields and Raw.
func (f *File) UnmarshalJSON(b []byte) error {
	type plain File
	if err := json.Unmarshal(b, (*plain)(f)); err != nil {
		return err
	}
	return json.Unmarshal(b, &f.Raw)
}

// Folder is the origin's folder object.
type Folder struct {
	Type       string `json:"type"`
	FolderID   string `json:"folderId"`
	Name       string `json:"name"`
	FolderPath string `json:"folderPath"`
}

// Collection is the origin's collection object.
type Collection struct {
	CollectionID string  `json:"collectionId"`
	Name         string  `json:"name"`
	Files        []*File `json:"files"`
}

// Permission is a library user's standing on a target.
type Permission struct {
	Role       string `json:"role"`
	Permission string `json:"permission"`
}

// Client talks to one origin. Its zero value is not usable; use New.
type Client struct {
	base   *url.URL
	secret []byte
	http   *http.Client
	now    func() time.Time
	// slashFolders: the origin spells folder paths with a trailing slash
	// ("/photos/", as ImageKit may); List asks in the same spelling, for an
	// origin that matches ?path= exactly.
	slashFolders atomic.Bool
}

// New returns a client for the origin at base, signing with secret.
func New(base string, secret []byte, timeout time.Duration) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("origin URL %q must be an absolute http(s) URL", base)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("origin URL %q must not have a query or fragment", base)
	}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: timeout,
		// Ask for identity: the gateway streams bytes and Range must
		// address the stored file, not a compressed form of it.
		DisableCompression: true,
		ForceAttemptHTTP2:  false,
	}
	return &Client{
		base:   u,
		secret: secret,
		http:   &http.Client{Transport: tr, CheckRedirect: noRedirects},
		now:    time.Now,
	}, nil
}

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// SetClock replaces the clock used for signature timestamps (tests).
func (c *Client) SetClock(now func() time.Time) { c.now = now }

// Close drops idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// newRequest builds a signed request for path (already escaped) and query.
func (c *Client) newRequest(ctx context.Context, method, escPath string, query url.Values, linkID string) (*http.Request, error) {
	u := *c.base
	u.RawPath = ""
	u.Path = ""
	u.Opaque = ""
	raw := c.base.EscapedPath() + escPath
	if err := setEscapedPath(&u, raw); err != nil {
		return nil, err
	}
	if query != nil {
		u.RawQuery = query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept-Encoding", "identity")
	originauth.Sign(req, c.secret, linkID, c.now())
	return req, nil
}

func setEscapedPath(u *url.URL, escaped string) error {
	p, err := url.PathUnescape(escaped)
	if err != nil {
		return err
	}
	u.Path = p
	u.RawPath = escaped
	return nil
}

func idPath(prefix, id, suffix string) (string, error) {
	if !policy.ValidID(id) {
		return "", ErrNotFound
	}
	return prefix + url.PathEscape(id) + suffix, nil
}

// getJSON fetches and decodes a JSON document.
func (c *Client) getJSON(ctx context.Context, escPath string, query url.Values, linkID string, into any) error {
	req, err := c.newRequest(ctx, http.MethodGet, escPath, query, linkID)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return ErrNotFound
	case resp.StatusCode != http.StatusOK:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return fmt.Errorf("%w: %s answered %d", ErrUnavailable, escPath, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJSON)).Decode(into); err != nil {
		return fmt.Errorf("%w: decoding %s: %v", ErrUnavailable, escPath, err)
	}
	return nil
}

// File fetches a file object.
func (c *Client) File(ctx context.Context, linkID, fileID string) (*File, error) {
	p, err := idPath("/v1/files/", fileID, "")
	if err != nil {
		return nil, err
	}
	var f File
	if err := c.getJSON(ctx, p, nil, linkID, &f); err != nil {
		return nil, err
	}
	if f.FileID != fileID || (f.Type != "" && f.Type != "file") {
		return nil, ErrNotFound
	}
	return &f, nil
}

// Folder fetches a folder object.
func (c *Client) Folder(ctx context.Context, linkID, folderID string) (*Folder, error) {
	p, err := idPath("/v1/folders/", folderID, "")
	if err != nil {
		return nil, err
	}
	var f Folder
	if err := c.getJSON(ctx, p, nil, linkID, &f); err != nil {
		return nil, err
	}
	if f.FolderID != folderID {
		return nil, ErrNotFound
	}
	if len(f.FolderPath) > 1 && strings.HasSuffix(f.FolderPath, "/") {
		c.slashFolders.Store(true)
	}
	f.FolderPath = trimFolderSlash(f.FolderPath)
	return &f, nil
}

// trimFolderSlash drops the one trailing slash some origins put on folder
// paths ("/photos/"), so scope checks compare like with like. Anything
// stranger is left for policy.CleanOriginPath to refuse.
func trimFolderSlash(p string) string {
	if len(p) > 1 && strings.HasSuffix(p, "/") {
		return p[:len(p)-1]
	}
	return p
}

// List fetches one page of the entries directly inside folderPath.
func (c *Client) List(ctx context.Context, linkID, folderPath string, skip, limit int) ([]*File, error) {
	if _, ok := policy.CleanOriginPath(folderPath); !ok {
		return nil, ErrNotFound
	}
	q := url.Values{}
	if c.slashFolders.Load() && folderPath != "/" {
		q.Set("path", folderPath+"/")
	} else {
		q.Set("path", folderPath)
	}
	q.Set("type", "all")
	q.Set("skip", strconv.Itoa(skip))
	q.Set("limit", strconv.Itoa(limit))
	var out []*File
	if err := c.getJSON(ctx, "/v1/files", q, linkID, &out); err != nil {
		return nil, err
	}
	for _, e := range out {
		e.FolderPath = trimFolderSlash(e.FolderPath)
	}
	return out, nil
}

// Collection fetches a collection with its members.
func (c *Client) Collection(ctx context.Context, linkID, collectionID string) (*Collection, error) {
	p, err := idPath("/v1/collections/", collectionID, "")
	if err != nil {
		return nil, err
	}
	var col Collection
	if err := c.getJSON(ctx, p, nil, linkID, &col); err != nil {
		return nil, err
	}
	if col.CollectionID != collectionID {
		return nil, ErrNotFound
	}
	return &col, nil
}

// Permission asks for a library user's role and permission on a target;
// the zero Target asks for the role alone.
func (c *Client) Permission(ctx context.Context, user string, t policy.Target) (Permission, error) {
	q := url.Values{}
	q.Set("user", user)
	if t != (policy.Target{}) {
		q.Set("target", t.String())
	}
	var p Permission
	err := c.getJSON(ctx, "/v1/permissions", q, "", &p)
	return p, err
}

// ForwardedRequestHeaders are the only visitor headers passed to the origin
// for content: what Range and conditional requests need.
var ForwardedRequestHeaders = []string{
	"Range", "If-Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since",
}

// Blob opens a file's current content ("content") or its thumbnail
// ("thumbnail"). The caller must close the body. Only the headers Range and
// conditional requests need are taken from in.
func (c *Client) Blob(ctx context.Context, linkID, fileID, kind string, method string, in http.Header) (*http.Response, error) {
	if kind != "content" && kind != "thumbnail" {
		return nil, fmt.Errorf("origin: unknown blob kind %q", kind)
	}
	p, err := idPath("/v1/files/", fileID, "/"+kind)
	if err != nil {
		return nil, err
	}
	if method != http.MethodHead {
		method = http.MethodGet
	}
	req, err := c.newRequest(ctx, method, p, nil, linkID)
	if err != nil {
		return nil, err
	}
	for _, h := range ForwardedRequestHeaders {
		if v := in.Values(h); len(v) > 0 {
			req.Header[h] = v
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if resp.StatusCode == http.StatusNotFound {
		resp.Body.Close()
		return nil, ErrNotFound
	}
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: %s answered %d", ErrUnavailable, p, resp.StatusCode)
	}
	return resp, nil
}
