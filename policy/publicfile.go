package policy

import (
	"encoding/json"
	"fmt"
)

// DefaultPublicFields is the publicFile allow-list of SPEC §3, in output
// order. path, contentUrl and thumbnailUrl are made by the gateway, not
// copied from the origin.
var DefaultPublicFields = []string{
	"fileId", "name", "path", "fileType", "mime", "size", "width", "height",
	"hasAlpha", "embeddedMetadata", "duration", "createdAt", "updatedAt",
	"contentUrl", "thumbnailUrl",
}

// forbiddenFields may never be shown to a visitor, whatever the operator
// configures.
var forbiddenFields = map[string]bool{
	"tags": true, "AITags": true, "customCoordinates": true, "customMetadata": true,
	"isPrivateFile": true, "isPublished": true, "versionInfo": true, "url": true,
	"thumbnail": true, "filePath": true, "createdBy": true, "owners": true,
	"owner": true, "comments": true, "description": true, "updatedBy": true,
}

// gatewayFields are computed by the gateway rather than copied.
var gatewayFields = map[string]bool{"path": true, "contentUrl": true, "thumbnailUrl": true}

// CheckPublicFields validates an operator's allow-list.
func CheckPublicFields(fields []string) error {
	seen := map[string]bool{}
	for _, f := range fields {
		if f == "" {
			return fmt.Errorf("empty field name")
		}
		if forbiddenFields[f] {
			return fmt.Errorf("field %q may never be public", f)
		}
		if seen[f] {
			return fmt.Errorf("field %q listed twice", f)
		}
		seen[f] = true
	}
	return nil
}

// Field is one key/value of a publicFile, in allow-list order.
type Field struct {
	Key   string
	Value json.RawMessage
}

// PublicFile is the allow-listed view of an origin file object. It marshals
// as a JSON object with its fields in allow-list order.
type PublicFile []Field

// MarshalJSON writes the fields as one object.
func (p PublicFile) MarshalJSON() ([]byte, error) {
	buf := make([]byte, 0, 256)
	buf = append(buf, '{')
	for i, f := range p {
		if i > 0 {
			buf = append(buf, ',')
		}
		k, _ := json.Marshal(f.Key)
		buf = append(buf, k...)
		buf = append(buf, ':')
		buf = append(buf, f.Value...)
	}
	return append(buf, '}'), nil
}

// Get returns the raw value of key, or nil.
func (p PublicFile) Get(key string) json.RawMessage {
	for _, f := range p {
		if f.Key == key {
			return f.Value
		}
	}
	return nil
}

// GatewayValues are the fields the gateway computes for a publicFile.
type GatewayValues struct {
	Path         string // relative to the shared folder; folder links only
	ContentURL   string
	ThumbnailURL string
}

// BuildPublicFile picks the allow-listed fields out of raw (the origin's
// object, decoded one level) and adds the gateway's own. A field absent at
// the origin, or null, is left out. Nothing outside allow is ever copied.
func BuildPublicFile(raw map[string]json.RawMessage, allow []string, gw GatewayValues) PublicFile {
	out := make(PublicFile, 0, len(allow))
	for _, key := range allow {
		if forbiddenFields[key] {
			continue
		}
		var v json.RawMessage
		if gatewayFields[key] {
			var s string
			switch key {
			case "path":
				s = gw.Path
			case "contentUrl":
				s = gw.ContentURL
			case "thumbnailUrl":
				s = gw.ThumbnailURL
			}
			if s == "" {
				continue
			}
			v, _ = json.Marshal(s)
		} else {
			v = raw[key]
			if len(v) == 0 || string(v) == "null" {
				continue
			}
		}
		out = append(out, Field{Key: key, Value: v})
	}
	return out
}
