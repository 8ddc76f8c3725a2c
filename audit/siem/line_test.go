package siem_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/audit/siem"
)

func sampleLine() siem.Line {
	return siem.Line{
		Facility: siem.FacilityLogAudit, Severity: siem.SeverityError,
		Timestamp: time.Date(2026, 12, 1, 2, 3, 4, 123456000, time.UTC),
		Hostname:  "host-1", AppName: "steward", ProcID: "4242", MsgID: "backup.failed", SDID: siem.DefaultSDID,
		Seq: 17, ID: "0193e3d2-1111-7000-8000-000000000000", Type: "backup.failed", Level: "error", Outcome: "failure",
		Tenant: "acme", Principal: "ops", Action: "backup", Message: `disk "full" [at] C:\data]`,
		Hash: strings.Repeat("a", 64), Prev: strings.Repeat("b", 64),
		JSON: []byte(`{"id":"x","message":"disk \"full\" ] \\ ü"}`),
	}
}

// TestLineRoundTrip: a line reads back as written, escapes included, and
// reads as RFC 5424 with the parameters in their documented order.
func TestLineRoundTrip(t *testing.T) {
	l := sampleLine()
	b := l.Append(nil)
	want := `<107>1 2026-12-01T02:03:04.123456Z host-1 steward 4242 backup.failed [steward@32473 seq="17" id="0193e3d2-1111-7000-8000-000000000000" type="backup.failed" level="error" outcome="failure" tenant="acme" principal="ops" action="backup" message="disk \"full\" [at\] C:\\data\]" hash="` +
		strings.Repeat("a", 64) + `" prev="` + strings.Repeat("b", 64) + `"] {"id":"x","message":"disk \"full\" ] \\ ü"}`
	require.Equal(t, want, string(b))
	got, err := siem.ParseLine(b)
	require.NoError(t, err)
	require.Equal(t, l, *got)
}

// TestLineNormalises: header fields become printable ASCII within their
// bounds ("-" when empty, read back empty), parameter values valid UTF-8
// without control characters; an empty SD-ID is the default.
func TestLineNormalises(t *testing.T) {
	l := siem.Line{
		Facility: 1, Severity: 6, Hostname: "h o\x00st", AppName: strings.Repeat("a", 60), MsgID: "ünicode.type",
		Seq: 1, Message: "line\none\ttab \xff bad", Tenant: "",
	}
	got, err := siem.ParseLine(l.Append(nil))
	require.NoError(t, err)
	require.True(t, got.Timestamp.IsZero(), "a zero timestamp is NILVALUE")
	require.Equal(t, "h_o_st", got.Hostname)
	require.Equal(t, strings.Repeat("a", 48), got.AppName)
	require.Equal(t, "", got.ProcID)
	require.Equal(t, "__nicode.type", got.MsgID, "each non-ASCII byte is one '_'")
	require.Equal(t, siem.DefaultSDID, got.SDID)
	require.Equal(t, "line one tab \uFFFD bad", got.Message)
	require.Nil(t, got.JSON)
}

// TestParseLineRefuses: what is not a line with an event's structured
// data is refused with ErrMalformed, naming where it went wrong.
func TestParseLineRefuses(t *testing.T) {
	sample := sampleLine()
	good := string(sample.Append(nil))
	for _, tc := range []struct{ name, line, want string }{
		{"empty", "", "'<'"},
		{"RFC 3164", "<13>Dec  1 02:00:00 host app: hi", "version 1"},
		{"priority too large", "<192>1 - h a p m [x seq=\"1\"]", "0 to 191"},
		{"priority with leading zero", "<013>1 - h a p m [x seq=\"1\"]", "0 to 191"},
		{"bad timestamp", "<13>1 yesterday h a p m [x seq=\"1\"]", "timestamp"},
		{"header cut short", "<13>1 - h a p", "header field"},
		{"a header field missing", "<13>1 - h a p [x seq=\"1\"]", "no '[' opening"},
		{"no structured data", "<13>1 - h a p m - msg", "no structured data"},
		{"no seq", "<13>1 - h a p m [x id=\"1\"]", "sequence number"},
		{"seq not a number", "<13>1 - h a p m [x seq=\"one\"]", "sequence number"},
		{"unterminated value", "<13>1 - h a p m [x seq=\"1]", "']'"},
		{"unclosed element", "<13>1 - h a p m [x seq=\"1\"", "' ' or ']'"},
		{"no space before message", "<13>1 - h a p m [x seq=\"1\"]msg", "no space"},
		{"cut", good[:len(good)/2], ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := siem.ParseLine([]byte(tc.line))
			require.ErrorIs(t, err, siem.ErrMalformed)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestParseLineSkipsOtherElements: elements after the first are read and
// skipped; unknown parameters are ignored.
func TestParseLineSkipsOtherElements(t *testing.T) {
	got, err := siem.ParseLine([]byte(`<110>1 - h a p m [steward@1 seq="3" new="x" tenant="acme"][origin ip="127.0.0.1"] {}`))
	require.NoError(t, err)
	require.Equal(t, uint64(3), got.Seq)
	require.Equal(t, "acme", got.Tenant)
	require.Equal(t, "steward@1", got.SDID)
	require.Equal(t, "{}", string(got.JSON))
}

// FuzzParseLine: ParseLine never panics, and a line it accepts, written
// again, reads back the same.
func FuzzParseLine(f *testing.F) {
	sample := sampleLine()
	f.Add(sample.Append(nil))
	f.Add([]byte(`<110>1 - h a p m [steward@1 seq="3" new="x"][o a="\"]"] {}`))
	f.Add([]byte(`<0>1 2026-01-01T00:00:00Z - - - - [x seq="18446744073709551615"]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := siem.ParseLine(b)
		if err != nil {
			require.ErrorIs(t, err, siem.ErrMalformed)
			return
		}
		again, err := siem.ParseLine(l.Append(nil))
		require.NoError(t, err, "a parsed line written again: %q", l.Append(nil))
		require.Equal(t, normalised(l), normalised(again))
	})
}

// FuzzLineRoundTrip: any line a Sink can write reads back with its fields
// as Append normalises them.
func FuzzLineRoundTrip(f *testing.F) {
	s := sampleLine()
	f.Add(uint8(13), uint8(3), int64(1764554584123456), "host", "steward", "4242", "backup.created", uint64(17), s.Message, s.Tenant, "ops", []byte(s.JSON))
	f.Add(uint8(0), uint8(0), int64(0), "", "", "", "", uint64(0), "", "", "", []byte(nil))
	f.Fuzz(func(t *testing.T, fac, sev uint8, us int64, host, app, proc, typ string, seq uint64, msg, tenant, principal string, js []byte) {
		l := siem.Line{
			Facility: int(fac % 24), Severity: int(sev % 8), Hostname: host, AppName: app, ProcID: proc,
			MsgID: typ, SDID: siem.DefaultSDID, Seq: seq, Type: typ, Message: msg, Tenant: tenant, Principal: principal,
			Hash: "h", JSON: js,
		}
		if us > 0 && us < 253402300799999999 { // up to year 9999
			l.Timestamp = time.UnixMicro(us).UTC()
		}
		got, err := siem.ParseLine(l.Append(nil))
		require.NoError(t, err, "line %q", l.Append(nil))
		want := normalised(&l)
		require.Equal(t, want, normalised(got))
		require.Equal(t, seq, got.Seq)
	})
}

// normalised is l as Append writes it and ParseLine reads it back.
func normalised(l *siem.Line) siem.Line {
	n := *l
	n.Timestamp = n.Timestamp.UTC().Truncate(time.Microsecond)
	if y := n.Timestamp.Year(); y < 0 || y > 9999 {
		n.Timestamp = time.Time{}
	}
	for _, f := range []struct {
		s   *string
		max int
	}{{&n.Hostname, 255}, {&n.AppName, 48}, {&n.ProcID, 128}, {&n.MsgID, 32}} {
		*f.s = headerField(*f.s, f.max)
	}
	if n.SDID == "" {
		n.SDID = siem.DefaultSDID
	}
	for _, p := range []*string{&n.ID, &n.Type, &n.Level, &n.Outcome, &n.Tenant, &n.Principal, &n.Action, &n.Message, &n.Hash, &n.Prev} {
		*p = paramValue(*p)
	}
	if len(n.JSON) == 0 {
		n.JSON = nil
	}
	return n
}

func headerField(s string, max int) string {
	if len(s) > max {
		s = s[:max]
	}
	b := []byte(s)
	for i, c := range b {
		if c < 33 || c > 126 {
			b[i] = '_'
		}
	}
	if string(b) == "-" {
		return ""
	}
	return string(b)
}

// paramValue is s with each invalid byte as U+FFFD and control
// characters as spaces.
func paramValue(s string) string {
	var b strings.Builder
	for _, r := range s { // an invalid byte reads as one utf8.RuneError
		if r < 0x20 || r == 0x7f {
			r = ' '
		}
		b.WriteRune(r)
	}
	return b.String()
}
