package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/kinesin-go/kinesin/kinesistest"
)

// controlClient calls the control API of a fake (kinesistest.Control).
type controlClient struct {
	base string // the fake's URL + kinesistest.ControlPrefix
	http *http.Client
}

func newControlClient(fakeURL string) *controlClient {
	return &controlClient{base: fakeURL + kinesistest.ControlPrefix, http: &http.Client{Timeout: 30 * time.Second}}
}

// controlError is an error answer of the control API.
type controlError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *controlError) Error() string {
	return fmt.Sprintf("control API: %d %s: %s", e.Status, e.Code, e.Message)
}

// do sends a request with body in (nil for none) and decodes the answer into
// out (nil to ignore it).
func (c *controlClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("control API %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("control API %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		ce := &controlError{Status: resp.StatusCode}
		if json.Unmarshal(raw, ce) != nil {
			ce.Message = string(raw)
		}
		return ce
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("control API %s %s: answer %q: %w", method, path, raw, err)
		}
	}
	return nil
}

// Shard is a shard as the control API lists it.
type Shard = kinesistest.ControlShard

// parents returns the parent ids of s.
func parents(s Shard) []string {
	var out []string
	for _, p := range []string{s.ParentShardID, s.AdjacentParentShardID} {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (c *controlClient) createStream(ctx context.Context, name string, shards int) error {
	return c.do(ctx, "POST", "streams", map[string]any{"name": name, "shards": shards}, nil)
}

func (c *controlClient) registerConsumer(ctx context.Context, stream, name string) error {
	return c.do(ctx, "POST", "streams/"+stream+"/consumers", map[string]any{"name": name}, nil)
}

func (c *controlClient) shards(ctx context.Context, stream string) ([]Shard, error) {
	var out struct {
		Shards []Shard `json:"shards"`
	}
	err := c.do(ctx, "GET", "streams/"+stream+"/shards", nil, &out)
	return out.Shards, err
}

func (c *controlClient) split(ctx context.Context, stream, shard string) ([]string, error) {
	var out struct {
		Children []string `json:"children"`
	}
	err := c.do(ctx, "POST", "streams/"+stream+"/split", map[string]any{"shard": shard}, &out)
	return out.Children, err
}

func (c *controlClient) merge(ctx context.Context, stream, shard, adjacent string) (string, error) {
	var out struct {
		Child string `json:"child"`
	}
	err := c.do(ctx, "POST", "streams/"+stream+"/merge", map[string]any{"shard": shard, "adjacent": adjacent}, &out)
	return out.Child, err
}

func (c *controlClient) shardCount(ctx context.Context, stream string, target int) error {
	return c.do(ctx, "POST", "streams/"+stream+"/shard-count", map[string]any{"target": target}, nil)
}

// fault is a fault to inject, as the control API takes it.
type fault struct {
	Match       map[string]string `json:"match,omitempty"`
	Action      map[string]any    `json:"action,omitempty"`
	Script      []map[string]any  `json:"script,omitempty"`
	Times       int               `json:"times,omitempty"`
	Probability float64           `json:"probability,omitempty"`
}

func (c *controlClient) inject(ctx context.Context, f fault) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
	err := c.do(ctx, "POST", "faults", f, &out)
	return out.ID, err
}

func (c *controlClient) clearFaults(ctx context.Context) error {
	return c.do(ctx, "DELETE", "faults", nil, nil)
}

// faultHits returns the hits of every fault listed, by id.
func (c *controlClient) faultHits(ctx context.Context) (map[string]int, error) {
	var out struct {
		Faults []struct {
			ID   string `json:"id"`
			Hits int    `json:"hits"`
		} `json:"faults"`
	}
	if err := c.do(ctx, "GET", "faults", nil, &out); err != nil {
		return nil, err
	}
	hits := make(map[string]int, len(out.Faults))
	for _, f := range out.Faults {
		hits[f.ID] = f.Hits
	}
	return hits, nil
}
