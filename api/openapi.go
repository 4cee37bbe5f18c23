package api

import (
	_ "embed"
	"fmt"
	"net/http"
	"sync"

	"github.com/gin-gonic/gin"
	"sigs.k8s.io/yaml"
)

// openAPIYAML is the API's OpenAPI 3.1 document, kept by hand next to the
// handlers (docs/architecture.md, "OpenAPI", says why and how to extend
// it). YAML keeps it readable and lets it say why in comments; clients get
// it as JSON.
//
//go:embed openapi.yaml
var openAPIYAML []byte

var openAPIJSON = sync.OnceValues(func() ([]byte, error) {
	doc, err := yaml.YAMLToJSON(openAPIYAML)
	if err != nil {
		return nil, fmt.Errorf("convert openapi.yaml to JSON: %w", err)
	}
	return doc, nil
})

// OpenAPIDocument returns the OpenAPI document GET /api/openapi.json
// serves, as JSON.
func OpenAPIDocument() ([]byte, error) { return openAPIJSON() }

func (s *Server) openAPI(c *gin.Context) {
	doc, err := openAPIJSON()
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", doc)
}
