// Package apitest holds HTTP exchanges with the API to its OpenAPI
// document (api/openapi.yaml). The api tests and the integration tests
// pass every request they send, and its answer, through one Checker, so
// the document cannot drift from what the server really accepts and
// answers. It is test support: nothing in the binaries imports it.
package apitest
