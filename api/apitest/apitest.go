package apitest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

func init() {
	// Bodies the filter has no decoder for, checked as opaque strings: the
	// run logs archive, and server-sent event streams.
	openapi3filter.RegisterBodyDecoder("application/zip", openapi3filter.FileBodyDecoder)
	openapi3filter.RegisterBodyDecoder("text/event-stream", openapi3filter.PlainBodyDecoder)
}

// Checker validates exchanges against one document. It is safe for
// concurrent use.
type Checker struct {
	doc     *openapi3.T
	router  routers.Router
	errorRS *openapi3.SchemaRef
	checked atomic.Int64
}

// Load parses and validates the document (JSON or YAML) and prepares its
// router.
func Load(ctx context.Context, data []byte) (*Checker, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("load openapi document: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("validate openapi document: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route openapi document: %w", err)
	}
	errorRS := doc.Components.Schemas["ErrorResponse"]
	if errorRS == nil {
		return nil, errors.New("openapi document: no components.schemas.ErrorResponse")
	}
	return &Checker{doc: doc, router: router, errorRS: errorRS}, nil
}

// Doc is the loaded document.
func (c *Checker) Doc() *openapi3.T { return c.doc }

// Checked counts the exchanges checked so far.
func (c *Checker) Checked() int64 { return c.checked.Load() }

// Check validates one exchange: req as sent with reqBody (req.Body is not
// read), and the answer's status, header and body.
//
//   - A route the document lacks must be answered 404 or 405 with the
//     error shape: the server has no such route either.
//   - A request the document rejects (a missing token, a wrong type, an
//     unknown field, a value outside an enum) must be answered 4xx: the
//     server may say more, never accept what the document refuses. Tests
//     send such requests on purpose to check the server's refusals.
//   - Every answer must be one the operation documents, status included.
func (c *Checker) Check(ctx context.Context, req *http.Request, reqBody []byte, status int, header http.Header, body []byte) error {
	c.checked.Add(1)
	what := req.Method + " " + req.URL.RequestURI()
	r := req.Clone(ctx)
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	r.ContentLength = int64(len(reqBody))
	route, params, err := c.router.FindRoute(r)
	if err != nil {
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			return fmt.Errorf("%s: not in the openapi document (%w), yet answered %d", what, err, status)
		}
		if err := c.errorBody(header, body); err != nil {
			return fmt.Errorf("%s: answer %d: %w", what, status, err)
		}
		return nil
	}
	in := &openapi3filter.RequestValidationInput{
		Request:    r,
		PathParams: params,
		Route:      route,
		Options: &openapi3filter.Options{
			MultiError:         true,
			AuthenticationFunc: bearer,
			// The default is the document's; the server applies its own.
			SkipSettingDefaults: true,
		},
	}
	reqErr := openapi3filter.ValidateRequest(ctx, in)
	if reqErr != nil && (status < 400 || status >= 500) {
		return fmt.Errorf("%s: the openapi document rejects the request, yet it was answered %d: %w\nrequest body: %s\nanswer: %s",
			what, status, reqErr, clip(reqBody), clip(body))
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{MultiError: true, IncludeResponseStatus: true},
	}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return fmt.Errorf("%s (operation %s): answer %d does not match the openapi document: %w\nanswer: %s",
			what, route.Operation.OperationID, status, err, clip(body))
	}
	return nil
}

// errorBody checks an answer against the error shape.
func (c *Checker) errorBody(header http.Header, body []byte) error {
	if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("content type %q, want application/json", ct)
	}
	v, err := openapi3filter.JSONBodyDecoder(bytes.NewReader(body), header, c.errorRS, nil)
	if err != nil {
		return fmt.Errorf("decode error body %s: %w", clip(body), err)
	}
	if err := c.errorRS.Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
		return fmt.Errorf("error body %s: %w", clip(body), err)
	}
	return nil
}

// bearer accepts any well-formed bearer token: whether it is a valid one
// is the server's to say (401), the document only requires the header.
func bearer(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	scheme, token, ok := strings.Cut(in.RequestValidationInput.Request.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return errors.New("no bearer token")
	}
	return nil
}

func clip(b []byte) string {
	const n = 2000
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// Loader loads the document doc returns once, on first use.
func Loader(doc func() ([]byte, error)) func() (*Checker, error) {
	return sync.OnceValues(func() (*Checker, error) {
		data, err := doc()
		if err != nil {
			return nil, err
		}
		return Load(context.Background(), data)
	})
}

// Exchange is Check for a test's request helper: a mismatch fails t, a
// document that does not load stops it.
func Exchange(t testing.TB, load func() (*Checker, error), req *http.Request, sent []byte, resp *http.Response, body []byte) {
	t.Helper()
	c, err := load()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Check(context.Background(), req, sent, resp.StatusCode, resp.Header, body); err != nil {
		t.Errorf("openapi: %v", err)
	}
}
