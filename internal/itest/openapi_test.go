package itest

import (
	"fmt"
	"os"
	"testing"

	"github.com/baton-sched/baton/api"
	"github.com/baton-sched/baton/api/apitest"
)

// openAPIChecker validates every exchange of request against the document
// the API serves.
var openAPIChecker = apitest.Loader(api.OpenAPIDocument)

func TestMain(m *testing.M) {
	code := m.Run()
	if c, err := openAPIChecker(); err == nil && testing.Verbose() {
		fmt.Printf("openapi: %d requests and answers validated against the document\n", c.Checked())
	}
	os.Exit(code)
}
