package api

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/baton-sched/baton/models"
)

// maxParamLen bounds every query parameter value of the runs routes: a
// filter longer than any id or name can only be a mistake, and an
// unbounded one turns into an expensive LIKE.
const maxParamLen = 256

// checkQuery refuses query parameters the route does not know, so a typo
// or an unsupported filter (sort, q) is an error rather than a page of
// everything, and values that are too long, not UTF-8 or hold NUL.
func checkQuery(c *gin.Context, known ...string) error {
	var unknown []string
	for name, values := range c.Request.URL.Query() {
		if !slices.Contains(known, name) {
			unknown = append(unknown, name)
			continue
		}
		for _, v := range values {
			switch {
			case len(v) > maxParamLen:
				return badRequest("query parameter %q is %d bytes long; at most %d are accepted", name, len(v), maxParamLen)
			case strings.ContainsRune(v, 0):
				return badRequest("query parameter %q contains a NUL byte", name)
			case !utf8.ValidString(v):
				return badRequest("query parameter %q is not valid UTF-8", name)
			}
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return badRequest("unknown query parameter(s) %s; this route accepts %s",
			quoteAll(unknown), quoteAll(known))
	}
	return nil
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = `"` + n + `"`
	}
	return strings.Join(q, ", ")
}

// cursorToken is the runs list cursor as clients hold it: opaque, so its
// content may change without breaking them.
type cursorToken struct {
	At time.Time `json:"t"`
	ID string    `json:"id"`
}

func encodeCursor(c *models.RunCursor) *string {
	if c == nil {
		return nil
	}
	b, _ := json.Marshal(cursorToken{At: c.CreatedAt.UTC(), ID: c.ID})
	s := base64.RawURLEncoding.EncodeToString(b)
	return &s
}

func decodeCursor(raw string) (*models.RunCursor, error) {
	bad := badRequest("query parameter \"cursor\" is not a cursor this API returned (use next_cursor of the previous page)")
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return nil, bad
	}
	var t cursorToken
	if json.Unmarshal(b, &t) != nil || t.ID == "" || t.At.IsZero() {
		return nil, bad
	}
	return &models.RunCursor{CreatedAt: t.At, ID: t.ID}, nil
}
