package models

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"
)

// defView is what the shared tests check of a head row, so one test body
// covers tasks and flows.
type defView struct {
	ID, Name, Group, TriggerType, CreatedBy string
	Version                                 int
	Enabled                                 bool
}

type verView struct {
	HeadID, Spec, CreatedBy string
	Version                 int
}

type defAPI struct {
	create       func(context.Context, DefinitionInput) (defView, verView, error)
	update       func(context.Context, DefinitionInput) (defView, verView, error)
	get          func(context.Context, string) (defView, verView, error)
	getVersion   func(context.Context, string, int) (verView, error)
	list         func(context.Context, ListQuery) ([]defView, int64, error)
	listVersions func(context.Context, string) ([]verView, error)
	setEnabled   func(context.Context, string, bool) (defView, error)
	del          func(context.Context, string) error
}

func taskView(t *Task) defView {
	if t == nil {
		return defView{}
	}
	return defView{t.ID, t.Name, t.Group, t.TriggerType, t.CreatedBy, t.Version, t.Enabled}
}

func taskVerView(v *TaskVersion) verView {
	if v == nil {
		return verView{}
	}
	return verView{v.TaskID, v.Spec, v.CreatedBy, v.Version}
}

func flowView(f *Flow) defView {
	if f == nil {
		return defView{}
	}
	return defView{f.ID, f.Name, f.Group, f.TriggerType, f.CreatedBy, f.Version, f.Enabled}
}

func flowVerView(v *FlowVersion) verView {
	if v == nil {
		return verView{}
	}
	return verView{v.FlowID, v.Spec, v.CreatedBy, v.Version}
}

func taskAPI(s *Store) defAPI {
	return defAPI{
		create: func(ctx context.Context, in DefinitionInput) (defView, verView, error) {
			h, v, err := s.CreateTask(ctx, in)
			return taskView(h), taskVerView(v), err
		},
		update: func(ctx context.Context, in DefinitionInput) (defView, verView, error) {
			h, v, err := s.UpdateTask(ctx, in)
			return taskView(h), taskVerView(v), err
		},
		get: func(ctx context.Context, id string) (defView, verView, error) {
			h, v, err := s.GetTask(ctx, id)
			return taskView(h), taskVerView(v), err
		},
		getVersion: func(ctx context.Context, id string, n int) (verView, error) {
			v, err := s.GetTaskVersion(ctx, id, n)
			return taskVerView(v), err
		},
		list: func(ctx context.Context, q ListQuery) ([]defView, int64, error) {
			hs, n, err := s.ListTasks(ctx, q)
			out := make([]defView, len(hs))
			for i := range hs {
				out[i] = taskView(&hs[i])
			}
			return out, n, err
		},
		listVersions: func(ctx context.Context, id string) ([]verView, error) {
			vs, err := s.ListTaskVersions(ctx, id)
			out := make([]verView, len(vs))
			for i := range vs {
				out[i] = taskVerView(&vs[i])
			}
			return out, err
		},
		setEnabled: func(ctx context.Context, id string, on bool) (defView, error) {
			h, err := s.SetTaskEnabled(ctx, id, on)
			return taskView(h), err
		},
		del: s.DeleteTask,
	}
}

func flowAPI(s *Store) defAPI {
	return defAPI{
		create: func(ctx context.Context, in DefinitionInput) (defView, verView, error) {
			h, v, err := s.CreateFlow(ctx, in)
			return flowView(h), flowVerView(v), err
		},
		update: func(ctx context.Context, in DefinitionInput) (defView, verView, error) {
			h, v, err := s.UpdateFlow(ctx, in)
			return flowView(h), flowVerView(v), err
		},
		get: func(ctx context.Context, id string) (defView, verView, error) {
			h, v, err := s.GetFlow(ctx, id)
			return flowView(h), flowVerView(v), err
		},
		getVersion: func(ctx context.Context, id string, n int) (verView, error) {
			v, err := s.GetFlowVersion(ctx, id, n)
			return flowVerView(v), err
		},
		list: func(ctx context.Context, q ListQuery) ([]defView, int64, error) {
			hs, n, err := s.ListFlows(ctx, q)
			out := make([]defView, len(hs))
			for i := range hs {
				out[i] = flowView(&hs[i])
			}
			return out, n, err
		},
		listVersions: func(ctx context.Context, id string) ([]verView, error) {
			vs, err := s.ListFlowVersions(ctx, id)
			out := make([]verView, len(vs))
			for i := range vs {
				out[i] = flowVerView(&vs[i])
			}
			return out, err
		},
		setEnabled: func(ctx context.Context, id string, on bool) (defView, error) {
			h, err := s.SetFlowEnabled(ctx, id, on)
			return flowView(h), err
		},
		del: s.DeleteFlow,
	}
}

func forEachKind(t *testing.T, fn func(t *testing.T, api defAPI)) {
	forEachDB(t, func(t *testing.T, s *Store) {
		t.Run("task", func(t *testing.T) { fn(t, taskAPI(s)) })
		t.Run("flow", func(t *testing.T) { fn(t, flowAPI(s)) })
	})
}

func TestDefinitionVersions(t *testing.T) {
	forEachKind(t, func(t *testing.T, api defAPI) {
		ctx := context.Background()
		in := DefinitionInput{ID: "d1", Name: "daily", Group: "g1", TriggerType: "cron",
			Spec: `{"v":1}`, Actor: "alice", Enabled: true}
		h, v, err := api.create(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if h.Version != 1 || !h.Enabled || h.CreatedBy != "alice" || v.Version != 1 || v.Spec != `{"v":1}` || v.HeadID != "d1" {
			t.Fatalf("create: %+v %+v", h, v)
		}
		if _, _, err := api.create(ctx, in); !errors.Is(err, ErrConflict) {
			t.Fatalf("duplicate create: %v, want ErrConflict", err)
		}
		if _, _, err := api.create(ctx, DefinitionInput{Name: "x"}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("create without id: %v, want ErrInvalid", err)
		}

		// Disable, then update: Enabled must survive the update, and empty
		// head attributes keep their value.
		if _, err := api.setEnabled(ctx, "d1", false); err != nil {
			t.Fatal(err)
		}
		h, v, err = api.update(ctx, DefinitionInput{ID: "d1", Spec: `{"v":2}`, Actor: "bob", Enabled: true})
		if err != nil {
			t.Fatal(err)
		}
		if h.Version != 2 || h.Enabled || h.Name != "daily" || h.Group != "g1" || h.TriggerType != "cron" {
			t.Fatalf("update head: %+v", h)
		}
		if v.Version != 2 || v.CreatedBy != "bob" || v.Spec != `{"v":2}` {
			t.Fatalf("update version: %+v", v)
		}
		h, v, err = api.update(ctx, DefinitionInput{ID: "d1", Name: "nightly", Group: "g2", TriggerType: "manual", Spec: `{"v":3}`})
		if err != nil {
			t.Fatal(err)
		}
		if h.Version != 3 || h.Name != "nightly" || h.Group != "g2" || h.TriggerType != "manual" {
			t.Fatalf("second update head: %+v", h)
		}

		h, v, err = api.get(ctx, "d1")
		if err != nil {
			t.Fatal(err)
		}
		if h.Version != 3 || v.Version != 3 || v.Spec != `{"v":3}` {
			t.Fatalf("get: %+v %+v", h, v)
		}
		old, err := api.getVersion(ctx, "d1", 1)
		if err != nil || old.Spec != `{"v":1}` || old.CreatedBy != "alice" {
			t.Fatalf("version 1: %+v %v", old, err)
		}
		if _, err := api.getVersion(ctx, "d1", 9); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing version: %v", err)
		}
		vs, err := api.listVersions(ctx, "d1")
		if err != nil {
			t.Fatal(err)
		}
		if len(vs) != 3 || vs[0].Version != 3 || vs[2].Version != 1 {
			t.Fatalf("versions: %+v", vs)
		}
		if _, err := api.listVersions(ctx, "never"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("versions of unknown: %v", err)
		}
		if _, _, err := api.get(ctx, "never"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("get unknown: %v", err)
		}
		if _, _, err := api.update(ctx, DefinitionInput{ID: "never", Spec: "{}"}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("update unknown: %v", err)
		}
	})
}

func TestDefinitionEnableAndDelete(t *testing.T) {
	forEachKind(t, func(t *testing.T, api defAPI) {
		ctx := context.Background()
		if _, _, err := api.create(ctx, DefinitionInput{ID: "d1", Name: "n", Spec: "{}", Enabled: true}); err != nil {
			t.Fatal(err)
		}
		// Setting the value it already has is not "not found", although
		// MySQL reports no affected rows for it.
		for range 2 {
			h, err := api.setEnabled(ctx, "d1", true)
			if err != nil || !h.Enabled {
				t.Fatalf("enable: %+v %v", h, err)
			}
		}
		h, err := api.setEnabled(ctx, "d1", false)
		if err != nil || h.Enabled {
			t.Fatalf("disable: %+v %v", h, err)
		}
		if _, err := api.setEnabled(ctx, "nope", true); !errors.Is(err, ErrNotFound) {
			t.Fatalf("enable unknown: %v", err)
		}
		if _, err := api.setEnabled(ctx, "d1", true); err != nil {
			t.Fatal(err)
		}
		if _, _, err := api.update(ctx, DefinitionInput{ID: "d1", Spec: `{"v":2}`}); err != nil {
			t.Fatal(err)
		}

		if err := api.del(ctx, "d1"); err != nil {
			t.Fatal(err)
		}
		if err := api.del(ctx, "d1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		if err := api.del(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("delete unknown: %v", err)
		}
		if _, _, err := api.get(ctx, "d1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("get deleted: %v", err)
		}
		if _, _, err := api.update(ctx, DefinitionInput{ID: "d1", Spec: "{}"}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("update deleted: %v", err)
		}
		if _, err := api.setEnabled(ctx, "d1", true); !errors.Is(err, ErrNotFound) {
			t.Fatalf("enable deleted: %v", err)
		}
		if _, _, err := api.create(ctx, DefinitionInput{ID: "d1", Spec: "{}"}); !errors.Is(err, ErrConflict) {
			t.Fatalf("reuse deleted id: %v", err)
		}
		// History stays readable.
		if v, err := api.getVersion(ctx, "d1", 2); err != nil || v.Spec != `{"v":2}` {
			t.Fatalf("version of deleted: %+v %v", v, err)
		}
		if vs, err := api.listVersions(ctx, "d1"); err != nil || len(vs) != 2 {
			t.Fatalf("versions of deleted: %+v %v", vs, err)
		}
		if hs, n, err := api.list(ctx, ListQuery{}); err != nil || n != 0 || len(hs) != 0 {
			t.Fatalf("list hides deleted: %+v %d %v", hs, n, err)
		}
		hs, n, err := api.list(ctx, ListQuery{IncludeDeleted: true})
		if err != nil || n != 1 || len(hs) != 1 || hs[0].Enabled {
			t.Fatalf("list with deleted: %+v %d %v", hs, n, err)
		}
	})
}

func TestDefinitionList(t *testing.T) {
	forEachKind(t, func(t *testing.T, api defAPI) {
		ctx := context.Background()
		for i, name := range []string{"alpha_load", "alphaxload", "beta", "gamma", "delta"} {
			group := "g1"
			if i%2 == 1 {
				group = "g2"
			}
			if _, _, err := api.create(ctx, DefinitionInput{ID: fmt.Sprintf("id%d", i), Name: name, Group: group, Spec: "{}"}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(3 * time.Millisecond) // distinct updated_at at DATETIME(3)
		}
		ids := func(hs []defView) []string {
			out := make([]string, len(hs))
			for i, h := range hs {
				out[i] = h.ID
			}
			return out
		}
		check := func(q ListQuery, wantTotal int64, want ...string) {
			t.Helper()
			hs, n, err := api.list(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if n != wantTotal || fmt.Sprint(ids(hs)) != fmt.Sprint(want) {
				t.Errorf("list %+v = %v (total %d), want %v (total %d)", q, ids(hs), n, want, wantTotal)
			}
		}
		check(ListQuery{}, 5, "id4", "id3", "id2", "id1", "id0")
		check(ListQuery{Limit: 2, Offset: 1}, 5, "id3", "id2")
		check(ListQuery{Group: "g2"}, 2, "id3", "id1")
		check(ListQuery{Name: "alpha"}, 2, "id1", "id0")
		check(ListQuery{Name: "ALPHA"}, 2, "id1", "id0")
		// "_" is literal, not a LIKE wildcard.
		check(ListQuery{Name: "a_l"}, 1, "id0")
		check(ListQuery{Name: "id2"}, 1, "id2")
		check(ListQuery{Name: "%"}, 0)
		check(ListQuery{Name: "alpha", Group: "g1"}, 1, "id0")

		// An update moves a definition to the top.
		if _, _, err := api.update(ctx, DefinitionInput{ID: "id0", Spec: "{}"}); err != nil {
			t.Fatal(err)
		}
		check(ListQuery{Limit: 2}, 5, "id0", "id4")
	})
}

func TestDefinitionConcurrentUpdates(t *testing.T) {
	forEachKind(t, func(t *testing.T, api defAPI) {
		ctx := context.Background()
		if _, _, err := api.create(ctx, DefinitionInput{ID: "d1", Name: "n", Spec: "{}"}); err != nil {
			t.Fatal(err)
		}
		const writers = 8
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			got  []int
			errs []error
		)
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, v, err := api.update(ctx, DefinitionInput{ID: "d1", Spec: fmt.Sprintf(`{"w":%d}`, i)})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				got = append(got, v.Version)
			}()
		}
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("concurrent updates failed: %v", errs)
		}
		sort.Ints(got)
		for i, v := range got {
			if v != i+2 {
				t.Fatalf("versions %v, want 2..%d each once", got, writers+1)
			}
		}
		h, v, err := api.get(ctx, "d1")
		if err != nil || h.Version != writers+1 || v.Version != writers+1 {
			t.Fatalf("head after concurrent updates: %+v %+v %v", h, v, err)
		}
	})
}
