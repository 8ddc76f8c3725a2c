package sqltenant

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"time"
)

// open streams t's rows file through a pipe from a goroutine scanning
// the table. The first read of t records its row count, SHA-256 and
// greatest timestamp for the metadata.
func (sn *snapshot) open(ctx context.Context, t *tableRead, p string) io.ReadCloser {
	t.mu.Lock()
	first := !t.started
	t.started = true
	t.mu.Unlock()
	pr, pw := io.Pipe()
	sn.scans.Add(1)
	go func() {
		defer sn.scans.Done()
		st, err := sn.read(ctx, t, pw)
		if first {
			t.finish(st, err)
		}
		pw.CloseWithError(err)
		sn.readOne(p)
	}()
	return pr
}

// readStats is what reading a table learnt.
type readStats struct {
	rows   int64
	sum    string
	maxTS  value
	hasMax bool
}

// read writes t's rows file to w and returns its stats.
func (sn *snapshot) read(ctx context.Context, t *tableRead, w io.Writer) (readStats, error) {
	var st readStats
	h := sha256.New()
	cols := t.columnNames()
	enc, err := newEncoder(io.MultiWriter(w, h), cols)
	if err != nil {
		return st, err
	}
	ts := -1
	for i, c := range cols {
		if c == t.Timestamp {
			ts = i
		}
	}
	var max latest
	spec := &scanSpec{Table: &t.Table, Columns: cols, Where: t.where, Args: t.args}
	err = sn.tx.scan(ctx, spec, func(row []value) error {
		if ts >= 0 {
			max.see(row[ts])
		}
		return enc.write(row)
	})
	if err == nil {
		err = enc.close()
	}
	if err != nil {
		return st, fmt.Errorf("sqltenant: read table %q: %w", t.Name, err)
	}
	st.rows, st.sum = enc.rows, hexSum(h)
	st.maxTS, st.hasMax = max.v, max.has
	return st, nil
}

// latest keeps the greatest of the values it sees, as newer orders
// them, holding the greatest one's time parsed, and the layout that
// parsed it tried first: a table's timestamps, one text form each, cost
// one parse a row.
type latest struct {
	v      value
	t      time.Time // v's time, when timed
	timed  bool
	has    bool
	layout int // index in timeLayouts of the form v parsed as
}

// see considers v (NULL is ignored).
func (m *latest) see(v value) {
	switch {
	case v.isNull():
		return
	case !m.has:
	case v.k == kindText && m.timed:
		if v.s == m.v.s {
			return
		}
		t, i, ok := parseTimeFrom(v.s, m.layout)
		if ok {
			if t.After(m.t) {
				m.v, m.t, m.layout = copyValue(v), t, i
			}
			return
		}
		if !newer(v, m.v) {
			return
		}
	case !newer(v, m.v):
		return
	}
	m.v, m.has, m.timed = copyValue(v), true, false
	if v.k == kindText {
		m.t, m.layout, m.timed = parseTimeFrom(v.s, m.layout)
	}
}

// copyValue returns v with bytes of its own (a scan's are reused).
func copyValue(v value) value {
	if v.k == kindBlob {
		v.b = nonNil(v.b)
	}
	return v
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

// finish records the first read's outcome.
func (t *tableRead) finish(st readStats, err error) {
	t.err = err
	if err == nil {
		t.Rows, t.SHA256 = st.rows, st.sum
		if st.hasMax {
			t.MaxTimestamp = st.maxTS.String()
		}
	}
	close(t.done)
}

// schemaJSON returns the metadata file: it waits for every table read
// under way and reads the tables nobody opened (to io.Discard), then
// encodes the Schema.
func (sn *snapshot) schemaJSON(ctx context.Context) ([]byte, error) {
	s := sn.schema
	for _, t := range sn.tables {
		t.mu.Lock()
		first := !t.started
		t.started = true
		t.mu.Unlock()
		if first {
			st, err := sn.read(ctx, t, io.Discard)
			t.finish(st, err)
		}
		select {
		case <-t.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if t.err != nil {
			return nil, fmt.Errorf("sqltenant: metadata: table %q was not read: %w", t.Name, t.err)
		}
		s.Tables = append(s.Tables, t.Table)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("sqltenant: metadata: %w", err)
	}
	return append(b, '\n'), nil
}
