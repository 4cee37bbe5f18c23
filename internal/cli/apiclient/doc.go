// Package apiclient is the typed Go client of Baton's REST API, generated
// by oapi-codegen from the OpenAPI document api/openapi.yaml, so the CLI
// reads the API's answers in the types the document defines instead of
// copies of them. Regenerate after changing the document; a test fails
// while the generated code is stale.
package apiclient

//go:generate go tool oapi-codegen -config oapi-codegen.yaml ../../../api/openapi.yaml
