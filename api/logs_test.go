package api

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/baton-sched/baton/models"
)

// startedRun starts a run of the seeded flow and marks instance id (of
// node "load") running.
func startedRun(t *testing.T, e *env) (runID, instID string) {
	t.Helper()
	seedFlow(t, e)
	var run runResp
	e.must(http.StatusCreated, "POST", "/api/v1/flows/settle/runs", e.operator, nil, &run)
	instID = run.ID + ".load.0.1"
	setInstance(t, e, run.ID, models.InstanceUpdate{ID: instID, NodeID: "load", Attempt: 1, WorkerID: "w1", Status: "running", Rev: 2})
	return run.ID, instID
}

func setInstance(t *testing.T, e *env, runID string, in models.InstanceUpdate) {
	t.Helper()
	if err := e.store.ApplyMirror(context.Background(), models.MirrorBatch{RunID: runID, Instances: []models.InstanceUpdate{in}}); err != nil {
		t.Fatal(err)
	}
}

// openFollow starts a follow request; the test fails if the stream is still
// open after 30 s, long past anything these tests wait for.
func openFollow(t *testing.T, e *env, path string) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", e.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.viewer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return resp
}

// readUntil reads from r into got until got contains want.
func readUntil(t *testing.T, r io.Reader, got *bytes.Buffer, want string) {
	t.Helper()
	buf := make([]byte, 4096)
	for !strings.Contains(got.String(), want) {
		n, err := r.Read(buf)
		got.Write(buf[:n])
		if err != nil && !strings.Contains(got.String(), want) {
			t.Fatalf("stream ended (%v) before %q arrived; got %q", err, want, got.String())
		}
	}
}

func TestFollowLogStreamsUntilInstanceEnds(t *testing.T) {
	e := newEnv(t)
	runID, inst := startedRun(t, e)
	ctx := context.Background()
	if err := e.store.AppendLog(ctx, inst, 0, 0, []byte("first\n")); err != nil {
		t.Fatal(err)
	}
	idle := make(chan struct{}, 1)
	followIdleHook = func() {
		select {
		case idle <- struct{}{}:
		default:
		}
	}
	defer func() { followIdleHook = nil }()
	// waitIdle lets the follower find nothing new at least once, which is
	// when a follower that ends too early would end.
	waitIdle := func() {
		select {
		case <-idle: // a signal from before what the test just did
		default:
		}
		select {
		case <-idle:
		case <-time.After(10 * time.Second):
			// Report what the stream does rather than this.
		}
	}
	resp := openFollow(t, e, "/api/v1/instances/"+inst+"/log?follow=true")
	defer func() { _ = resp.Body.Close() }()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") || resp.Header.Get("X-Log-Size") != "6" {
		t.Fatalf("headers %v", resp.Header)
	}
	var got bytes.Buffer
	readUntil(t, resp.Body, &got, "first\n")

	// The writer goes on while the reader waits: each step only after the
	// reader has seen the previous one, so the stream is known to stay open
	// while the instance runs.
	var ended atomic.Bool
	step := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		<-step
		if err := e.store.AppendLog(ctx, inst, 1, 6, []byte("second\n")); err != nil {
			errc <- err
			return
		}
		<-step
		// The last output and the end arrive together: what was stored
		// before the instance ended must still be sent.
		if err := e.store.AppendLog(ctx, inst, 2, 13, []byte("third\n")); err != nil {
			errc <- err
			return
		}
		ended.Store(true)
		errc <- e.store.ApplyMirror(ctx, models.MirrorBatch{RunID: runID, Instances: []models.InstanceUpdate{
			{ID: inst, NodeID: "load", Attempt: 1, Status: "success", Rev: 3}}})
	}()
	waitIdle()
	step <- struct{}{}
	readUntil(t, resp.Body, &got, "second\n")
	waitIdle()
	step <- struct{}{}
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("stream did not end cleanly after the instance ended: %v (got %q)", err, got.String()+string(rest))
	}
	got.Write(rest)
	if !ended.Load() {
		t.Fatal("stream ended while the instance was still running")
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if got.String() != "first\nsecond\nthird\n" {
		t.Fatalf("streamed %q", got.String())
	}
	if resp.Trailer.Get("X-Next-Offset") != "19" || resp.Trailer.Get("X-Instance-Status") != "success" {
		t.Errorf("trailers %v", resp.Trailer)
	}
}

func TestFollowLogOfEndedInstance(t *testing.T) {
	e := newEnv(t)
	runID, inst := startedRun(t, e)
	ctx := context.Background()
	for i, part := range []string{"hello ", "world\n"} {
		if err := e.store.AppendLog(ctx, inst, i, int64(6*i), []byte(part)); err != nil {
			t.Fatal(err)
		}
	}
	setInstance(t, e, runID, models.InstanceUpdate{ID: inst, NodeID: "load", Attempt: 1, Status: "failed", Rev: 3})
	// Offsets work as without follow, and an ended instance ends the
	// stream as soon as everything was sent.
	resp := openFollow(t, e, "/api/v1/instances/"+inst+"/log?follow=true&offset=6")
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil || string(b) != "world\n" {
		t.Fatalf("body %q, %v", b, err)
	}
	if resp.Trailer.Get("X-Next-Offset") != "12" || resp.Trailer.Get("X-Instance-Status") != "failed" {
		t.Errorf("trailers %v", resp.Trailer)
	}
	e.mustFail(http.StatusNotFound, CodeNotFound, "GET", "/api/v1/instances/nope/log?follow=true", e.viewer, nil)
	e.mustFail(http.StatusBadRequest, CodeBadRequest, "GET", "/api/v1/instances/"+inst+"/log?follow=true&offset=x", e.viewer, nil)
}

func TestFollowLogGivesUpAtTheLimit(t *testing.T) {
	e := newEnv(t)
	_, inst := startedRun(t, e)
	if err := e.store.AppendLog(context.Background(), inst, 0, 0, []byte("still going\n")); err != nil {
		t.Fatal(err)
	}
	defer func(d time.Duration) { followLimit = d }(followLimit)
	followLimit = 500 * time.Millisecond
	resp := openFollow(t, e, "/api/v1/instances/"+inst+"/log?follow=true")
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil || string(b) != "still going\n" {
		t.Fatalf("body %q, %v", b, err)
	}
	// The client learns where to resume and that the instance still runs.
	if resp.Trailer.Get("X-Next-Offset") != "12" || resp.Trailer.Get("X-Instance-Status") != "running" {
		t.Errorf("trailers %v", resp.Trailer)
	}
}

func TestFollowLogStopsWhenClientLeaves(t *testing.T) {
	e := newEnv(t)
	_, inst := startedRun(t, e)
	// A server of its own, to see the handler return.
	srv := New(Options{Store: e.store, Engine: e.engine, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler()
	returned := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		srv.ServeHTTP(w, r)
		close(returned)
	}))
	defer ts.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", ts.URL+"/api/v1/instances/"+inst+"/log?follow=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.viewer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	select {
	case <-returned:
		t.Fatal("stream ended while the instance runs and the client listens")
	default:
	}
	cancel()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("handler still streaming 10s after the client left")
	}
}

// zipEntries reads an archive answer into name → content, in order.
func zipEntries(t *testing.T, body []byte) ([]string, map[string]string) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatalf("not a zip (%d bytes): %v", len(body), err)
	}
	var names []string
	files := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		_ = rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		names = append(names, f.Name)
		files[f.Name] = string(b)
	}
	return names, files
}

func TestRunLogsArchive(t *testing.T) {
	e := newEnv(t)
	runID, inst := startedRun(t, e)
	ctx := context.Background()
	// A log of several chunks larger than one archive read, so that the
	// archive is assembled piece by piece.
	big := bytes.Repeat([]byte("0123456789abcdef"), (archiveChunk*5/2)/16)
	var want bytes.Buffer
	for seq, off := 0, 0; off < len(big); seq++ {
		n := min(64<<10, len(big)-off)
		if err := e.store.AppendLog(ctx, inst, seq, int64(off), big[off:off+n]); err != nil {
			t.Fatal(err)
		}
		want.Write(big[off : off+n])
		off += n
	}
	setInstance(t, e, runID, models.InstanceUpdate{ID: inst, NodeID: "load", Attempt: 1, Status: "failed", Rev: 3})
	second := runID + ".load.0.2"
	setInstance(t, e, runID, models.InstanceUpdate{ID: second, NodeID: "load", Attempt: 2, WorkerID: "w2", Status: "success", Rev: 3})
	if err := e.store.AppendLog(ctx, second, 0, 0, []byte("retried fine\n")); err != nil {
		t.Fatal(err)
	}
	shard := runID + ".extract.3.1"
	setInstance(t, e, runID, models.InstanceUpdate{ID: shard, NodeID: "extract", ShardIndex: 3, Attempt: 1, Status: "success", Rev: 3})
	// A node id of dots must not climb out of the directory it is unpacked in.
	dots := runID + "....0.1"
	setInstance(t, e, runID, models.InstanceUpdate{ID: dots, NodeID: "..", Attempt: 1, Status: "success", Rev: 3})
	if err := e.store.AppendLog(ctx, dots, 0, 0, []byte("dots\n")); err != nil {
		t.Fatal(err)
	}

	r := e.must(http.StatusOK, "GET", "/api/v1/runs/"+runID+"/logs", e.viewer, nil, nil)
	if ct := r.header.Get("Content-Type"); ct != "application/zip" {
		t.Errorf("content type %q", ct)
	}
	if cd := r.header.Get("Content-Disposition"); cd != `attachment; filename="run-`+runID+`-logs.zip"` {
		t.Errorf("content disposition %q", cd)
	}
	names, files := zipEntries(t, r.body)
	wantNames := []string{"run.json", "__/0-attempt1.log", "extract/3-attempt1.log", "load/0-attempt1.log", "load/0-attempt2.log"}
	asSet(t, names, wantNames...)
	if files["load/0-attempt1.log"] != want.String() {
		t.Errorf("load attempt 1: %d bytes, want %d", len(files["load/0-attempt1.log"]), want.Len())
	}
	if files["load/0-attempt2.log"] != "retried fine\n" || files["extract/3-attempt1.log"] != "" || files["__/0-attempt1.log"] != "dots\n" {
		t.Errorf("entries %q %q %q", files["load/0-attempt2.log"], files["extract/3-attempt1.log"], files["__/0-attempt1.log"])
	}
	var detail runResp
	if err := json.Unmarshal([]byte(files["run.json"]), &detail); err != nil {
		t.Fatalf("run.json: %v", err)
	}
	if detail.ID != runID || detail.DefinitionID != "settle" {
		t.Errorf("run.json: %+v", detail)
	}

	e.mustFail(http.StatusNotFound, CodeNotFound, "GET", "/api/v1/runs/nope/logs", e.viewer, nil)
	e.mustFail(http.StatusUnauthorized, CodeUnauthorized, "GET", "/api/v1/runs/"+runID+"/logs", "", nil)
}

func TestRunLogsArchiveOfRunWithoutInstances(t *testing.T) {
	e := newEnv(t)
	seedFlow(t, e)
	var run runResp
	e.must(http.StatusCreated, "POST", "/api/v1/flows/settle/runs", e.operator, nil, &run)
	r := e.must(http.StatusOK, "GET", "/api/v1/runs/"+run.ID+"/logs", e.viewer, nil, nil)
	names, _ := zipEntries(t, r.body)
	asSet(t, names, "run.json")
}
