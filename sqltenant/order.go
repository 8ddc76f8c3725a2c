package sqltenant

import (
	"fmt"
	"sort"
	"time"
)

// parentsFirst orders tables so that a table comes after every other
// table its foreign keys reference (references outside tables, and a
// table's references to itself, do not count); among tables free to go,
// by name. A cycle of references is an error naming its tables.
func parentsFirst(tables []Table) ([]Table, error) {
	in := map[string]int{}
	for i, t := range tables {
		in[t.Name] = i
	}
	deps := make([]map[string]bool, len(tables))
	for i, t := range tables {
		deps[i] = map[string]bool{}
		for _, fk := range t.ForeignKeys {
			if _, ok := in[fk.RefTable]; ok && fk.RefTable != t.Name {
				deps[i][fk.RefTable] = true
			}
		}
	}
	out := make([]Table, 0, len(tables))
	placed := map[string]bool{}
	for len(out) < len(tables) {
		var ready []int
		for i, t := range tables {
			if !placed[t.Name] && allPlaced(deps[i], placed) {
				ready = append(ready, i)
			}
		}
		if len(ready) == 0 {
			var left []string
			for _, t := range tables {
				if !placed[t.Name] {
					left = append(left, t.Name)
				}
			}
			return nil, fmt.Errorf("sqltenant: the foreign keys of tables %q reference each other in a cycle: no load order exists", left)
		}
		sort.Slice(ready, func(a, b int) bool { return tables[ready[a]].Name < tables[ready[b]].Name })
		i := ready[0]
		out = append(out, tables[i])
		placed[tables[i].Name] = true
	}
	return out, nil
}

func allPlaced(deps, placed map[string]bool) bool {
	for d := range deps {
		if !placed[d] {
			return false
		}
	}
	return true
}

// timeLayouts are the text forms of timestamps newer parses: RFC 3339
// and SQLite's date-time functions' forms, with or without a zone.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999-07",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02",
}

// newer tells whether a backed-up timestamp a is strictly newer than a
// stored one b: numbers by value, texts as instants when both parse as
// timestamps (zones honoured; a time without a zone is UTC), else
// byte-wise. NULLs, and values of different kinds, are never newer.
func newer(a, b value) bool {
	switch {
	case a.isNull() || b.isNull():
		return false
	case a.k == kindInt && b.k == kindInt:
		return a.i > b.i
	case (a.k == kindInt || a.k == kindFloat) && (b.k == kindInt || b.k == kindFloat):
		return num(a) > num(b)
	case a.k == kindText && b.k == kindText:
		ta, okA := parseTime(a.s)
		tb, okB := parseTime(b.s)
		if okA && okB {
			return ta.After(tb)
		}
		return a.s > b.s
	}
	return false
}

func num(v value) float64 {
	if v.k == kindInt {
		return float64(v.i)
	}
	return v.f
}

func parseTime(s string) (time.Time, bool) {
	t, _, ok := parseTimeFrom(s, 0)
	return t, ok
}

// parseTimeFrom parses s as parseTime does, trying timeLayouts[first]
// first, and returns the index of the layout that parsed it.
func parseTimeFrom(s string, first int) (time.Time, int, bool) {
	if t, err := time.Parse(timeLayouts[first], s); err == nil {
		return t, first, true
	}
	for i, l := range timeLayouts {
		if i == first {
			continue
		}
		if t, err := time.Parse(l, s); err == nil {
			return t, i, true
		}
	}
	return time.Time{}, first, false
}
