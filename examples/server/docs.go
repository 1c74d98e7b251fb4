package main

import (
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/apitoken/apitoken"
)

// document is a demo document for /search.
type document struct {
	DocumentID string    `json:"documentId"`
	Title      string    `json:"title"`
	Author     string    `json:"author"`
	Created    time.Time `json:"created"`
	// AdminOnly documents are visible to admins only.
	AdminOnly bool `json:"adminOnly"`
}

// demoDocuments returns the same 224 documents on every start: IDs are
// UUID-shaped hashes of their index; every eighth is admin-only.
func demoDocuments() []document {
	authors := []string{"mary.griffin", "john.doe", "ana.silva", "li.wei"}
	kinds := []string{"Contract", "Invoice", "NDA", "Offer", "Report", "Policy", "Minutes"}
	start := time.Date(2023, 1, 2, 9, 0, 0, 0, time.UTC)
	docs := make([]document, 224)
	for i := range docs {
		h := sha256.Sum256([]byte(fmt.Sprint("apitoken demo document ", i)))
		docs[i] = document{
			DocumentID: fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16]),
			Title:      fmt.Sprintf("%s %03d", kinds[i%len(kinds)], i+1),
			Author:     authors[i%len(authors)],
			Created:    start.Add(time.Duration(i) * 36 * time.Hour),
			AdminOnly:  i%8 == 7,
		}
	}
	return docs
}

// visibleDocuments returns the documents a principal may read: read-only is
// enough for all but admin-only ones.
func visibleDocuments(docs []document, p apitoken.Principal) []document {
	if p.Privilege.AtLeast(apitoken.Admin) {
		return docs
	}
	var out []document
	if !p.Privilege.AtLeast(apitoken.ReadOnly) {
		return out
	}
	for _, d := range docs {
		if !d.AdminOnly {
			out = append(out, d)
		}
	}
	return out
}
