package release

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzDecodeRecord checks that decodeRecord never panics and that a record
// it accepts, encoded again, decodes to the same record.
func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte(`{"seq":1,"type":"created","channel":"prod","release_id":"prod-1.0.0"}`))
	f.Add([]byte(`{"seq":2,"type":"resigned","covers":"ab","sum":"cd"}`))
	f.Add([]byte(`{"seq":0,"type":"bogus"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		again, err := json.Marshal(r)
		require.NoError(t, err)
		r2, err := decodeRecord(again)
		require.NoError(t, err)
		require.Equal(t, r, r2)
	})
}
