package api

import (
	"embed"
	"net/http"

	"github.com/go-chi/chi/v5"
)

// web is the dashboard: one page (index.html) that renders the overview at /
// and a check at /checks/{id} from its path, its script and its style sheet.
// Everything is embedded: no CDN, no build step, it works offline.
//
//go:embed web/index.html web/app.js web/app.css
var web embed.FS

// assetTypes are the assets served under /assets/ and their content types.
var assetTypes = map[string]string{
	"app.js":  "text/javascript; charset=utf-8",
	"app.css": "text/css; charset=utf-8",
}

// servePage answers the dashboard's page, whatever of it the path selects.
func servePage(w http.ResponseWriter, _ *http.Request) {
	b, _ := web.ReadFile("web/index.html")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(b)
}

func serveAsset(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "file")
	typ, ok := assetTypes[name]
	if !ok {
		writeProblem(w, Problem{Status: http.StatusNotFound, Detail: "no dashboard asset " + name})
		return
	}
	b, _ := web.ReadFile("web/" + name)
	w.Header().Set("Content-Type", typ)
	// Revalidated on each load, so an upgraded binary's script is never
	// mixed with an older cached page.
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(b)
}
