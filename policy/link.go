// Package policy holds publink's security decisions as pure functions: no
// I/O, no Caddy types, no clock of its own. Everything a decision needs is
// passed in, so the rules read in one place and are tested exhaustively.
package policy

import "time"

// TargetType names what a link shares.
type TargetType string

const (
	TargetFile       TargetType = "file"
	TargetFolder     TargetType = "folder"
	TargetCollection TargetType = "collection"
)

// Valid reports whether t is one of the three target types.
func (t TargetType) Valid() bool {
	return t == TargetFile || t == TargetFolder || t == TargetCollection
}

// Target is the thing a link shares.
type Target struct {
	Type TargetType `json:"type"`
	ID   string     `json:"id"`
}

// String renders the target as "type:id", the form used in queries and keys.
func (t Target) String() string { return string(t.Type) + ":" + t.ID }

// Link is a stored share link. PasswordHash and PasswordVersion never leave
// the gateway; the admin API renders links through its own view type.
type Link struct {
	ID      string `json:"id"`
	Token   string `json:"token"`
	Account string `json:"account"`
	Target  Target `json:"target"`
	// TargetPath is the origin path of a file or folder target when the link
	// was made; a different path later means the target moved.
	TargetPath        string     `json:"targetPath,omitempty"`
	ValidFrom         *time.Time `json:"validFrom,omitempty"`
	ValidUntil        *time.Time `json:"validUntil,omitempty"`
	PasswordHash      string     `json:"passwordHash,omitempty"`
	PasswordVersion   int64      `json:"passwordVersion,omitempty"`
	ExposeUnpublished bool       `json:"exposeUnpublished,omitempty"`
	CreatedAt         time.Time  `json:"createdAt"`
	CreatedBy         string     `json:"createdBy"`
	UpdatedAt         time.Time  `json:"updatedAt"`
	UpdatedBy         string     `json:"updatedBy"`
	// Revision counts stored updates; Store.UpdateLink compares it, so two
	// concurrent edits cannot silently overwrite each other.
	Revision int64 `json:"revision,omitempty"`
}

// HasPassword reports whether visitors must unlock the link first.
func (l *Link) HasPassword() bool { return l.PasswordHash != "" }

// Live reports whether the link works at now: validFrom <= now < validUntil,
// each bound optional.
func (l *Link) Live(now time.Time) bool {
	if l.ValidFrom != nil && now.Before(*l.ValidFrom) {
		return false
	}
	if l.ValidUntil != nil && !now.Before(*l.ValidUntil) {
		return false
	}
	return true
}

// Expired reports whether the link is past its validUntil and so due for
// deletion (a not-yet-valid link is not expired).
func (l *Link) Expired(now time.Time) bool {
	return l.ValidUntil != nil && !now.Before(*l.ValidUntil)
}
