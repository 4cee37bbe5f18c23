package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// HTTPServer is the http.Server every role serves the API with. Its
// WriteTimeout bounds ordinary answers; the routes that stream for as long
// as a run or a download lasts (event streams, log follow, log archives)
// write through a deadlineWriter, which moves the deadline forward before
// each write, so they are cut only when a client stops reading.
func HTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		// Bodies are at most maxBody (32 MiB): minutes even on a slow link.
		ReadTimeout:  2 * time.Minute,
		WriteTimeout: 2 * time.Minute,
		IdleTimeout:  2 * time.Minute,
	}
}

// deadlineWriter writes to a response, first extending the connection's
// write deadline by streamWriteWait.
type deadlineWriter struct {
	w  gin.ResponseWriter
	rc *http.ResponseController
}

func newDeadlineWriter(w gin.ResponseWriter) *deadlineWriter {
	return &deadlineWriter{w: w, rc: http.NewResponseController(w)}
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	d.extend()
	return d.w.Write(p)
}

// Flush sends what is buffered. A handler calls it last too, so that the
// end of the response (the final chunk) has time to go out.
func (d *deadlineWriter) Flush() {
	d.extend()
	d.w.Flush()
}

func (d *deadlineWriter) extend() {
	// Not every ResponseWriter supports deadlines (httptest's recorder does
	// not); the write itself still reports a client that is gone.
	_ = d.rc.SetWriteDeadline(time.Now().Add(streamWriteWait))
}
