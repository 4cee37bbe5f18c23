package apitest

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

const miniDoc = `
openapi: 3.1.0
info: {title: t, version: "1"}
security: [{bearer: []}]
paths:
  /things:
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              required: [name]
              properties:
                name: {type: string}
      responses:
        "201":
          description: created
          content:
            application/json:
              schema:
                type: object
                additionalProperties: false
                required: [id]
                properties:
                  id: {type: string}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
components:
  securitySchemes:
    bearer: {type: http, scheme: bearer}
  responses:
    Error:
      description: error
      content:
        application/json:
          schema: {$ref: "#/components/schemas/ErrorResponse"}
  schemas:
    ErrorResponse:
      type: object
      additionalProperties: false
      required: [error]
      properties:
        error:
          type: object
          required: [code, message]
          properties:
            code: {type: string}
            message: {type: string}
`

func TestCheck(t *testing.T) {
	c, err := Load(context.Background(), []byte(miniDoc))
	if err != nil {
		t.Fatal(err)
	}
	jsonHdr := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	errBody := `{"error":{"code":"bad_request","message":"no"}}`
	for _, tc := range []struct {
		name, method, path, token, sent string
		status                          int
		answer, wantErr                 string
	}{
		{"valid exchange", "POST", "/things", "t", `{"name":"a"}`, 201, `{"id":"1"}`, ""},
		{"undocumented field in the answer", "POST", "/things", "t", `{"name":"a"}`, 201, `{"id":"1","extra":2}`, "does not match"},
		{"undocumented status", "POST", "/things", "t", `{"name":"a"}`, 200, `{"id":"1"}`, "does not match"},
		{"rejected request refused", "POST", "/things", "t", `{"nom":"a"}`, 400, errBody, ""},
		{"rejected request accepted", "POST", "/things", "t", `{"nom":"a"}`, 201, `{"id":"1"}`, "rejects the request"},
		{"no token refused", "POST", "/things", "", `{"name":"a"}`, 401, errBody, ""},
		{"no token accepted", "POST", "/things", "", `{"name":"a"}`, 201, `{"id":"1"}`, "rejects the request"},
		{"unknown route answered 404", "GET", "/nothing", "t", "", 404, errBody, ""},
		{"unknown route answered 200", "GET", "/nothing", "t", "", 200, `{}`, "not in the openapi document"},
		{"unknown route, bad error shape", "GET", "/nothing", "t", "", 404, `{"message":"x"}`, "error body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, "http://127.0.0.1:1"+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			if tc.sent != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			err = c.Check(context.Background(), req, []byte(tc.sent), tc.status, jsonHdr, []byte(tc.answer))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected mismatch: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
			}
		})
	}
	if n := c.Checked(); n != 10 {
		t.Fatalf("Checked() = %d, want 10", n)
	}
}
