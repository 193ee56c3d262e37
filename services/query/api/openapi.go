package api

import (
	_ "embed"
	"net/http"
)

// openapi is the API's OpenAPI 3.1 document: every route, parameter and
// response. TestOpenAPIDescribesTheRouter keeps it and the router in step,
// and every response the tests see is validated against it.
//
//go:embed openapi.json
var openapi []byte

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openapi)
}
