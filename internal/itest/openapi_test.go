package itest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync"
	"testing"

	"github.com/baton-sched/baton/api"
	"github.com/baton-sched/baton/api/apitest"
)

// openAPIChecker validates every exchange of request against the document
// the API serves.
var openAPIChecker = sync.OnceValues(func() (*apitest.Checker, error) {
	doc, err := api.OpenAPIDocument()
	if err != nil {
		return nil, err
	}
	return apitest.Load(context.Background(), doc)
})

func checkOpenAPI(t testing.TB, req *http.Request, sent []byte, resp *http.Response, body []byte) {
	t.Helper()
	c, err := openAPIChecker()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Check(context.Background(), req, sent, resp.StatusCode, resp.Header, body); err != nil {
		t.Errorf("openapi: %v", err)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if c, err := openAPIChecker(); err == nil && testing.Verbose() {
		fmt.Printf("openapi: %d requests and answers validated against the document\n", c.Checked())
	}
	os.Exit(code)
}
