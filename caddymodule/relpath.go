package caddymodule

import "strings"

func splitRel(rel string) []string {
	if rel == "" {
		return nil
	}
	return strings.Split(rel, "/")
}

func joinRel(a, b string) string {
	if a == "" {
		return b
	}
	return a + "/" + b
}

func parentRel(rel string) string {
	i := strings.LastIndexByte(rel, '/')
	if i < 0 {
		return ""
	}
	return rel[:i]
}
