package sqltenant

import (
	"context"
	"encoding/binary"
	"math"
	"strings"
)

// merge carries out a batch of an overwrite or keep-newer merge: one
// query looks the rows' keys up among the tenant's (keysTable); missing
// rows are inserted in one statement, existing ones updated one by one
// or kept.
func (ld *sqliteLoad) merge(ctx context.Context, rows [][]value, n *loadCounts) error {
	if len(rows) == 0 {
		return nil
	}
	stored, err := ld.lookupBatch(ctx, rows)
	if err != nil {
		return err
	}
	var missing [][]value
	for _, r := range rows {
		ts, found := stored[ld.keyOf(r)]
		switch {
		case !found:
			missing = append(missing, r)
		case ld.update == nil, ld.l.Mode == loadKeepNewer && (ld.ts < 0 || !newer(r[ld.ts], ts)):
			n.Kept++
		default:
			n.Updated++
			if _, err := ld.update.ExecContext(ctx, ld.updateArgs(r)...); err != nil {
				return err
			}
		}
	}
	return ld.insertRows(ctx, missing, n)
}

// lookupBatch returns the stored timestamp of each key of rows found
// among the tenant's rows, by keyOf.
func (ld *sqliteLoad) lookupBatch(ctx context.Context, rows [][]value) (map[string]value, error) {
	k := len(ld.key)
	one := "(?" + strings.Repeat(", ?", k-1) + ")"
	cols := make([]string, k)
	for i := range k {
		cols[i] = numbered("k", i+1)
	}
	q := "SELECT " + strings.Join(cols, ", ") + ", ts FROM " + keysTable + " WHERE (" + strings.Join(cols, ", ") +
		") IN (VALUES " + one + strings.Repeat(", "+one, len(rows)-1) + ")"
	args := make([]any, 0, len(rows)*k)
	for _, r := range rows {
		for _, i := range ld.key {
			args = append(args, r[i].arg())
		}
	}
	out := make(map[string]value, len(rows))
	err := ld.t.query(ctx, q, args, func(r []value) error {
		out[keyString(r[:k])] = copyValue(r[k])
		return nil
	})
	return out, err
}

// keyOf returns the key of row as keyString writes it.
func (ld *sqliteLoad) keyOf(row []value) string {
	key := make([]value, len(ld.key))
	for j, i := range ld.key {
		key[j] = row[i]
	}
	return keyString(key)
}

// keyString writes key values as a string that two keys share only when
// their values are equal, kind for kind.
func keyString(key []value) string {
	var b strings.Builder
	var tmp [binary.MaxVarintLen64]byte
	for _, v := range key {
		b.WriteByte(byte(v.k))
		var x uint64
		switch v.k {
		case kindInt:
			x = uint64(v.i)
		case kindFloat:
			x = math.Float64bits(v.f)
		case kindText:
			x = uint64(len(v.s))
		case kindBlob:
			x = uint64(len(v.b))
		}
		b.Write(tmp[:binary.PutUvarint(tmp[:], x)])
		b.WriteString(v.s)
		b.Write(v.b)
	}
	return b.String()
}
