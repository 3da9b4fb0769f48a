package caddymodule

import (
	"context"
	"errors"
	"time"

	"github.com/publink/publink/origin"
	"github.com/publink/publink/policy"
	"github.com/publink/publink/store"
)

// lookupToken finds a link by share token through the per-node cache.
func (a *App) lookupToken(ctx context.Context, token string) (*policy.Link, error) {
	l, ok := a.links.get(token)
	a.metrics.linkCacheLookup(ok)
	if ok {
		if l == nil {
			return nil, store.ErrNotFound
		}
		return l, nil
	}
	l, err := a.store.LinkByToken(ctx, token)
	switch {
	case errors.Is(err, store.ErrNotFound):
		a.links.put(token, nil)
		return nil, err
	case err != nil:
		return nil, err
	}
	a.links.put(token, l)
	return l, nil
}

// removeLinkAsync deletes a link off the request path; the visitor already
// has their 404.
func (a *App) removeLinkAsync(l *policy.Link, actor, reason string) {
	a.links.forget(l.Token)
	// One removal per link at a time: a burst of visits to an expired link
	// must not become a burst of store deletes.
	if _, busy := a.removing.LoadOrStore(l.ID, true); busy {
		return
	}
	// Tracked by the app's wait group, so Stop waits for it (bounded by the
	// timeout) before the store is released.
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer a.removing.Delete(l.ID)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a.removeLink(ctx, l, actor, reason)
	}()
}

// scope is what the origin currently says about a link's target.
type scope struct {
	file       *origin.File       // file links
	folder     *origin.Folder     // folder links
	collection *origin.Collection // collection links
}

func (s *scope) policy() policy.Scope {
	if s.folder != nil {
		return policy.Scope{FolderPath: s.folder.FolderPath}
	}
	return policy.Scope{}
}

// errTargetGone reports that a link's target was deleted or moved; the link
// has been removed and the visitor gets the common 404.
var errTargetGone = errors.New("publink: link target is gone")

// resolveScope fetches the link's target from the origin (through the fact
// cache) and removes the link when the target was deleted or moved.
func (a *App) resolveScope(ctx context.Context, l *policy.Link) (*scope, error) {
	var s scope
	var err error
	switch l.Target.Type {
	case policy.TargetFile:
		s.file, err = a.originFile(ctx, l.ID, l.Target.ID)
		if err == nil && l.TargetPath != "" && s.file.FilePath != l.TargetPath {
			return nil, a.targetGone(l, "target_moved")
		}
	case policy.TargetFolder:
		s.folder, err = a.originFolder(ctx, l.ID, l.Target.ID)
		if err == nil && l.TargetPath != "" && s.folder.FolderPath != l.TargetPath {
			return nil, a.targetGone(l, "target_moved")
		}
		if err == nil {
			if _, ok := policy.CleanOriginPath(s.folder.FolderPath); !ok {
				return nil, errTargetGone
			}
		}
	case policy.TargetCollection:
		s.collection, err = a.originCollection(ctx, l.ID, l.Target.ID)
	default:
		return nil, errTargetGone
	}
	if errors.Is(err, origin.ErrNotFound) {
		return nil, a.targetGone(l, "target_deleted")
	}
	if err != nil {
		return nil, err
	}
	return &s, nil
}

func (a *App) targetGone(l *policy.Link, reason string) error {
	a.removeLinkAsync(l, "system", reason)
	return errTargetGone
}

func cached[T any](a *App, key string, fetch func() (T, error)) (T, error) {
	if v, ok := a.facts.get(key); ok {
		if t, ok := v.(T); ok {
			return t, nil
		}
	}
	v, err := fetch()
	if err != nil {
		var zero T
		return zero, err
	}
	a.facts.put(key, v)
	return v, nil
}

func (a *App) originFile(ctx context.Context, linkID, fileID string) (*origin.File, error) {
	return cached(a, "file:"+fileID, func() (*origin.File, error) { return a.origin.File(ctx, linkID, fileID) })
}

func (a *App) originFolder(ctx context.Context, linkID, folderID string) (*origin.Folder, error) {
	return cached(a, "folder:"+folderID, func() (*origin.Folder, error) { return a.origin.Folder(ctx, linkID, folderID) })
}

func (a *App) originCollection(ctx context.Context, linkID, id string) (*origin.Collection, error) {
	return cached(a, "collection:"+id, func() (*origin.Collection, error) { return a.origin.Collection(ctx, linkID, id) })
}

// listPage fetches one page of the origin's listing of dir; last reports
// that no entries follow it. An origin may cap its pages below the limit
// asked for (SPEC §6 does not forbid it), so only an empty page ends a
// listing for sure. A complete listing (a first page, shorter than
// originPage, whose end the origin confirmed with an empty page) is kept
// for the cache TTL like every other origin fact, so a busy folder link
// costs the origin one listing per TTL instead of one per visitor (issue
// 7: uncached, a 200-file listing ran at a fifth of a bare proxy's rate,
// all of it spent decoding the origin's JSON). Longer folders are paged
// uncached, which bounds what the cache holds. Callers must not modify the
// entries.
func (a *App) listPage(ctx context.Context, linkID, dir string, skip int) (page []*origin.File, last bool, err error) {
	if skip != 0 || a.lists == nil {
		page, err = a.origin.List(ctx, linkID, dir, skip, originPage)
		return page, len(page) == 0, err
	}
	// When the entry expires under load, one request refetches; the
	// others wait for its answer instead of all asking the origin.
	// The shared fetch must not end with the first caller's request: the
	// others would get its context.Canceled (the origin timeout bounds it).
	fctx := context.WithoutCancel(ctx)
	fl, err := a.lists.fill(ctx, dir, func() (*folderListing, bool, error) {
		page, err := a.origin.List(fctx, linkID, dir, 0, originPage)
		if err != nil || len(page) >= originPage {
			return &folderListing{files: page}, false, err
		}
		if len(page) > 0 {
			// Short, but maybe only the origin's own page size. (An origin
			// that ignores skip repeats the page: that was all of it.)
			more, err := a.origin.List(fctx, linkID, dir, len(page), originPage)
			if err != nil || (len(more) > 0 && entryKey(more[0]) != entryKey(page[0])) {
				return &folderListing{files: page}, false, err
			}
		}
		return &folderListing{files: page, complete: true}, true, nil
	})
	if err != nil {
		return nil, false, err
	}
	return fl.files, fl.complete, nil
}

// listingJSON returns the JSON listing of a folder link at rel, made by
// build or reused. The body is a pure function of the link record, the
// folder object and the folder's listing, all immutable once cached; it is
// reused only while all three are the very objects it was built from, so
// it is exactly what build would make now, and it never outlives the
// cached listing (cache TTL). issue 7: re-encoding 200 public files on
// every request was two thirds of a listing's cost.
func (a *App) listingJSON(l *policy.Link, s *scope, rel string, build func() ([]byte, error)) ([]byte, error) {
	if l.Target.Type != policy.TargetFolder || s.folder == nil || a.lists == nil {
		return build()
	}
	dir := policy.JoinFolder(s.folder.FolderPath, rel)
	before, _ := a.lists.get(dir)
	if before != nil {
		before.mu.Lock()
		r, ok := before.rendered[l.ID]
		before.mu.Unlock()
		if ok && r.link == l && r.folder == s.folder {
			return r.body, nil
		}
	}
	body, err := build()
	if err != nil || before == nil {
		return body, err
	}
	// Keep it only when build read the same cached listing.
	if after, _ := a.lists.get(dir); after == before {
		before.mu.Lock()
		if before.rendered == nil {
			before.rendered = map[string]renderedListing{}
		}
		before.rendered[l.ID] = renderedListing{link: l, folder: s.folder, body: body}
		before.mu.Unlock()
	}
	return body, nil
}

// visibleFile returns a file the link may show, or origin.ErrNotFound.
func (a *App) visibleFile(ctx context.Context, l *policy.Link, s *scope, fileID string) (*origin.File, error) {
	if !policy.ValidID(fileID) {
		return nil, origin.ErrNotFound
	}
	var f *origin.File
	facts := policy.FileFacts{FileID: fileID}
	switch l.Target.Type {
	case policy.TargetFile:
		if fileID != l.Target.ID {
			return nil, origin.ErrNotFound
		}
		f = s.file
	case policy.TargetCollection:
		for _, m := range s.collection.Files {
			if m.FileID == fileID {
				f = m
				facts.Member = true
				break
			}
		}
		if f == nil {
			return nil, origin.ErrNotFound
		}
	case policy.TargetFolder:
		var err error
		if f, err = a.originFile(ctx, l.ID, fileID); err != nil {
			return nil, err
		}
	}
	facts.FilePath = f.FilePath
	facts.Published = f.Published()
	if f.FileID != fileID || !policy.FileVisible(l, s.policy(), facts) {
		return nil, origin.ErrNotFound
	}
	return f, nil
}

// publicFile renders a file through the allow-list.
func (a *App) publicFile(l *policy.Link, s *scope, f *origin.File) policy.PublicFile {
	base := a.shareURL(l.Token) + "/files/" + f.FileID
	gw := policy.GatewayValues{ContentURL: base + "/content", ThumbnailURL: base + "/thumbnail"}
	if s.folder != nil {
		gw.Path, _ = policy.RelativePath(s.folder.FolderPath, f.FilePath)
	}
	return policy.BuildPublicFile(f.Raw, a.PublicFields, gw)
}
