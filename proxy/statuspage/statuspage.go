// Package statuspage is the admin address's page: one HTML file with its
// script and styles inline (no external assets, nothing fetched but the
// admin API's own /status), embedded in the binary.
package statuspage

import (
	_ "embed"
	"net/http"
)

//go:embed index.html
var page []byte

// Handler serves the page at "/" and answers 404 to every other path, so
// that a mistyped API path is not answered with HTML.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		// Only itself: inline script and style, fetches to this origin.
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:")
		h.Set("Cache-Control", "no-store")
		_, _ = w.Write(page)
	})
}
