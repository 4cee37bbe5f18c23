package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/engine"
	"github.com/baton-sched/baton/workflows"
)

// paramsError checks the params a run once or a rerun gives with the rule
// definitions' params follow.
func paramsError(params map[string]string) error {
	p := dag.ValidateParams("params", params)
	if len(p) == 0 {
		return nil
	}
	msg := "params: " + p[0].Message
	if len(p) > 1 {
		msg = fmt.Sprintf("params: %d problems, the first: %s", len(p), p[0].Message)
	}
	return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: msg, Details: []dag.Problem(p)}
}

// inputSizeError refuses a run input Temporal would refuse: every run of
// it would fail to start with "Blob data size exceeds limit".
func inputSizeError(in workflows.RunInput, what string) error {
	size, err := engine.EncodedSize(in)
	if err != nil {
		return fmt.Errorf("size of the run input: %w", err)
	}
	if size <= engine.MaxInputBytes {
		return nil
	}
	return &Error{Status: http.StatusBadRequest, Code: CodeRunInputTooLarge,
		Message: fmt.Sprintf("%s is %d bytes as a run's input (encoded and compressed); Temporal takes at most %d, "+
			"so no run of it could start: split the flow, or move large scripts and bodies into files the tasks read",
			what, size, engine.MaxInputBytes),
		Details: gin.H{"bytes": size, "limit": engine.MaxInputBytes}}
}

// definitionSizeError checks, before a definition is saved, that a run of
// it can start: its snapshot, referenced tasks inlined, must fit a run's
// input.
func (s *Server) definitionSizeError(ctx context.Context, k kind, id string, def definition) error {
	src, err := k.snapshot(ctx, s, record{ID: id, Name: def.name, Group: def.group}, versionRecord{Version: 1, Spec: def.spec})
	if err != nil {
		return err
	}
	in := workflows.RunInput{RunID: uuid.NewString(), Kind: k.name(), DefinitionID: id, Version: 1,
		Trigger: dag.TriggerManual, Bizdate: bizdateLayout, Params: src.params, Flow: src.flow, Mirror: true,
		OperableWindow: s.operableWindow()}
	return inputSizeError(in, fmt.Sprintf("this %s", k.name()))
}
