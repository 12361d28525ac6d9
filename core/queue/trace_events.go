package queue

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// A message's trace grows after reception: each delivery attempt adds an
// event. Every event is a key of its own under the trace's key, so that
// appending is a single write and concurrent attempts never read, modify
// and write back the same document. Trace merges them; PruneTraces
// removes them with the trace, as they sort under the same id.

// traceEventKey is r/<id>/<nanos BE 8B><seq BE 8B>: events sort by time,
// then by the order they were appended in this process.
func (s *Store) traceEventKey(id string) []byte {
	k := make([]byte, 0, 2+len(id)+1+16)
	k = append(k, traceKey(id)...)
	k = append(k, '/')
	k = binary.BigEndian.AppendUint64(k, uint64(s.clock().UnixNano()))
	return binary.BigEndian.AppendUint64(k, s.traceSeq.Add(1))
}

// AppendTraceEvent adds ev, one JSON value, to the "deliveries" of the
// message's trace. Trace data is diagnostic, so the write is not synced: a
// crash may lose the last events, never a message.
func (s *Store) AppendTraceEvent(id string, ev []byte) error {
	if id == "" {
		return errors.New("queue: trace event without message id")
	}
	if !json.Valid(ev) {
		return fmt.Errorf("queue: trace event for %s is not JSON", id)
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	defer s.fatalOnPanic()
	if err := s.db.Set(s.traceEventKey(id), ev, pebble.NoSync); err != nil {
		return fmt.Errorf("queue: trace event: %w", err)
	}
	return nil
}

// withTraceEvents returns base, the stored trace document (nil when there
// is none), with the message's events as its "deliveries" array. Without
// either there is no trace.
func (s *Store) withTraceEvents(id string, base []byte) ([]byte, error) {
	var events [][]byte
	err := s.scan(string(traceKey(id))+"/", func(_, v []byte) bool {
		events = append(events, bytes.Clone(v))
		return true
	})
	if err != nil {
		return nil, err
	}
	switch {
	case len(events) == 0 && base == nil:
		return nil, ErrNotFound
	case len(events) == 0:
		return base, nil
	case base == nil:
		base, _ = json.Marshal(map[string]string{"id": id})
	}
	list := append(append([]byte{'['}, bytes.Join(events, []byte{','})...), ']')
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(base, &fields); err != nil || fields == nil {
		return nil, fmt.Errorf("queue: trace of %s is not a JSON object", id)
	}
	if _, ok := fields["deliveries"]; ok {
		fields["deliveries"] = list
		return json.Marshal(fields)
	}
	// Splice the array in before the closing brace, so the document keeps
	// its field order.
	doc := bytes.TrimRight(base, " \t\r\n")
	doc = doc[:len(doc)-1]
	if len(fields) > 0 {
		doc = append(doc, ',')
	}
	doc = append(doc, `"deliveries":`...)
	doc = append(doc, list...)
	return append(doc, '}'), nil
}
