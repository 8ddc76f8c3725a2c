package record_test

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/internal/record"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

type rec struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
	Sum   string `json:"sum"`
}

func TestKeyedTagsCatchForgeryAndMoves(t *testing.T) {
	k, err := record.New(secret, "flags")
	require.NoError(t, err)
	require.True(t, k.Keyed())
	body := []byte(`{"name":"a"}`)
	tag := k.Sum("flags/a/1", body)
	require.NoError(t, k.Check("flags/a/1", body, tag))

	require.ErrorIs(t, k.Check("flags/a/2", body, tag), steward.ErrForged, "a record moved to another name")
	require.ErrorIs(t, k.Check("flags/a/1", []byte(`{"name":"b"}`), tag), steward.ErrForged, "an altered record")
	plain := sha256.Sum256(body)
	err = k.Check("flags/a/1", body, hex.EncodeToString(plain[:]))
	require.ErrorIs(t, err, steward.ErrForged, "a checksum where a MAC belongs")
	require.Contains(t, err.Error(), "no MAC")

	other, err := record.New(secret, "release")
	require.NoError(t, err)
	require.ErrorIs(t, other.Check("flags/a/1", body, tag), steward.ErrForged, "another purpose's key")
}

func TestUnkeyedTagIsTheLegacyChecksum(t *testing.T) {
	k, err := record.New(nil, "flags")
	require.NoError(t, err)
	require.False(t, k.Keyed())
	body := []byte(`{"x":1}`)
	h := sha256.Sum256(body)
	require.Equal(t, hex.EncodeToString(h[:]), k.Sum("any", body), "records written before keys existed still verify")
	require.ErrorIs(t, k.Check("any", []byte(`{"x":2}`), k.Sum("any", body)), record.ErrChecksum)

	keyed, _ := record.New(secret, "flags")
	err = k.Check("n", body, keyed.Sum("n", body))
	require.ErrorIs(t, err, record.ErrChecksum)
	require.Contains(t, err.Error(), "configure the record key")
}

func TestShortSecretRefused(t *testing.T) {
	_, err := record.New([]byte("short"), "audit")
	require.Error(t, err)
	require.Contains(t, err.Error(), "at least 16")
}

func TestStampVerify(t *testing.T) {
	k, _ := record.New(secret, "flags")
	r := rec{Name: "x", Count: 3}
	record.Stamp(k, "n", &r, &r.Sum)
	require.NotEmpty(t, r.Sum)
	require.NoError(t, record.Verify(k, "n", &r, &r.Sum))
	require.NotEmpty(t, r.Sum, "Verify puts the tag back")
	r.Count = 4
	require.ErrorIs(t, record.Verify(k, "n", &r, &r.Sum), steward.ErrForged)
}

func FuzzTagRoundTrip(f *testing.F) {
	f.Add("flags/a/00000000000000000001.json", []byte(`{"name":"a"}`), true, byte(0), 0)
	f.Add("", []byte{}, false, byte(1), 3)
	f.Fuzz(func(t *testing.T, name string, body []byte, keyed bool, flip byte, at int) {
		var sec []byte
		if keyed {
			sec = secret
		}
		k, err := record.New(sec, "fuzz")
		require.NoError(t, err)
		tag := k.Sum(name, body)
		require.NoError(t, k.Check(name, body, tag))
		if flip == 0 || len(body) == 0 {
			return
		}
		bad := append([]byte(nil), body...)
		bad[uint(at)%uint(len(bad))] ^= flip
		require.Error(t, k.Check(name, bad, tag), "a changed byte is detected")
		if keyed {
			require.ErrorIs(t, k.Check(name+"x", body, tag), steward.ErrForged, "a moved record is detected")
		}
	})
}
