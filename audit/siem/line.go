package siem

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/iluxsys/steward/audit"
)

// DefaultSDID is the SD-ID of the structured-data element that carries an
// event's fields. 32473 is the private enterprise number RFC 5612 reserves
// for documentation; a host with its own number may set SyslogConfig.SDID.
const DefaultSDID = "steward@32473"

// Names of the parameters of the structured-data element, in the order a
// line carries them. Every line carries every one, empty when the event
// has no value for it; a SIEM may rely on them.
const (
	// ParamSeq is the event's sequence number in the audit log (decimal):
	// a SIEM that sees one skipped knows it missed an event.
	ParamSeq = "seq"
	// ParamID is the event's ID (a UUID).
	ParamID = "id"
	// ParamType is the event's type ("backup.created"), in full (MSGID
	// holds at most 32 bytes of it).
	ParamType = "type"
	// ParamLevel is the level recorded: info, warning or error.
	ParamLevel = "level"
	// ParamOutcome is "failure" when the event records one
	// (audit.Event.Failed), "success" otherwise, as exports write it.
	ParamOutcome = "outcome"
	// ParamTenant is the tenant concerned, if any.
	ParamTenant = "tenant"
	// ParamPrincipal is the principal's ID ("" for the system itself).
	ParamPrincipal = "principal"
	// ParamAction is the action an access denial refused
	// (Data[audit.DataAction]), if any.
	ParamAction = "action"
	// ParamMessage is the event's message.
	ParamMessage = "message"
	// ParamHash is the record's chain hash (see audit.Recorded).
	ParamHash = "hash"
	// ParamPrev is the previous record's chain hash.
	ParamPrev = "prev"
)

// Outcomes as ParamOutcome carries them.
const (
	outcomeSuccess = "success"
	outcomeFailure = "failure"
)

// Severities (RFC 5424) of a line: failures are errors, warnings warnings,
// the rest informational.
const (
	SeverityError   = 3
	SeverityWarning = 4
	SeverityInfo    = 6
)

// FacilityLogAudit is RFC 5424's facility 13, "log audit", the default.
const FacilityLogAudit = 13

// Line is one audit event as a syslog line (RFC 5424) carries it:
//
//	<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD-ID seq=".." id=".." ...] JSON
//
// PRI is Facility*8+Severity; TIMESTAMP is the event's, in UTC to the
// microsecond; MSGID is the event type; the structured-data element SDID
// carries the Param fields; the message (MSG) is the event's JSON as the
// log stored it, so a SIEM can check Hash over Seq, Prev and it.
//
// Header fields hold printable US-ASCII only, at most 255 (Hostname), 48
// (AppName), 128 (ProcID) and 32 (MsgID) bytes: other bytes become '_',
// longer ones are cut, and an empty one is written as "-" and reads back
// empty. Parameter values are UTF-8 with control characters written as
// spaces (the JSON message keeps them exactly).
type Line struct {
	Facility  int
	Severity  int
	Timestamp time.Time
	Hostname  string
	AppName   string
	ProcID    string
	MsgID     string
	SDID      string

	Seq       uint64
	ID        string
	Type      string
	Level     string
	Outcome   string
	Tenant    string
	Principal string
	Action    string
	Message   string
	Hash      string
	Prev      string

	// JSON is the message: the event as stored, or empty.
	JSON []byte
}

// header is what a sink puts in every line besides the event.
type header struct {
	facility int
	hostname string
	appName  string
	procID   string
	sdID     string
}

// lineFor is the line of r. It reads r.Event.Data, so it runs during
// the observer's call; the line keeps only strings and r.JSON.
func lineFor(r audit.Recorded, h *header) Line {
	e := &r.Event
	l := Line{
		Facility: h.facility, Severity: SeverityInfo, Timestamp: e.Timestamp,
		Hostname: h.hostname, AppName: h.appName, ProcID: h.procID, MsgID: string(e.Type), SDID: h.sdID,
		Seq: r.Seq, ID: e.ID, Type: string(e.Type), Level: string(e.Level), Outcome: outcomeSuccess,
		Tenant: e.Tenant, Principal: e.UserID, Message: e.Message, Hash: r.Hash, Prev: r.Prev, JSON: r.JSON,
	}
	if a, ok := e.Data[audit.DataAction].(string); ok {
		l.Action = a
	}
	switch {
	case e.Failed():
		l.Severity, l.Outcome = SeverityError, outcomeFailure
	case e.Level == audit.LevelWarning:
		l.Severity = SeverityWarning
	}
	return l
}

// params are l's structured-data parameters, in their order.
func (l *Line) params() [11]struct{ name, value string } {
	return [...]struct{ name, value string }{
		{ParamSeq, strconv.FormatUint(l.Seq, 10)}, {ParamID, l.ID}, {ParamType, l.Type},
		{ParamLevel, l.Level}, {ParamOutcome, l.Outcome}, {ParamTenant, l.Tenant},
		{ParamPrincipal, l.Principal}, {ParamAction, l.Action}, {ParamMessage, l.Message},
		{ParamHash, l.Hash}, {ParamPrev, l.Prev},
	}
}

// timeLayout is RFC 5424's TIMESTAMP: RFC 3339, at most six fractional
// digits.
const timeLayout = "2006-01-02T15:04:05.000000Z07:00"

// Append appends l in RFC 5424 form (without framing) to dst.
func (l *Line) Append(dst []byte) []byte {
	dst = append(dst, '<')
	dst = strconv.AppendInt(dst, int64(l.Facility*8+l.Severity), 10)
	dst = append(dst, ">1 "...)
	if ts := l.Timestamp.UTC(); l.Timestamp.IsZero() || ts.Year() < 0 || ts.Year() > 9999 {
		dst = append(dst, '-') // RFC 3339 has four-digit years only
	} else {
		dst = ts.AppendFormat(dst, timeLayout)
	}
	for _, f := range [...]struct {
		s   string
		max int
	}{{l.Hostname, 255}, {l.AppName, 48}, {l.ProcID, 128}, {l.MsgID, 32}} {
		dst = append(dst, ' ')
		dst = appendHeaderField(dst, f.s, f.max)
	}
	dst = append(dst, " ["...)
	sdID := l.SDID
	if sdID == "" {
		sdID = DefaultSDID
	}
	dst = appendHeaderField(dst, sdName(sdID), 32)
	for _, p := range l.params() {
		dst = append(dst, ' ')
		dst = append(dst, p.name...)
		dst = append(dst, `="`...)
		dst = appendParamValue(dst, p.value)
		dst = append(dst, '"')
	}
	dst = append(dst, ']')
	if len(l.JSON) > 0 {
		dst = append(dst, ' ')
		dst = append(dst, l.JSON...)
	}
	return dst
}

// sdName is s with the bytes an SD-NAME may not hold ('=', ']', '"')
// replaced; appendHeaderField does the rest.
func sdName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '=' || r == ']' || r == '"' {
			return '_'
		}
		return r
	}, s)
}

// appendHeaderField appends s as printable US-ASCII of at most max bytes,
// or "-" when empty.
func appendHeaderField(dst []byte, s string, max int) []byte {
	if s == "" {
		return append(dst, '-')
	}
	if len(s) > max {
		s = s[:max]
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 33 || c > 126 {
			c = '_'
		}
		dst = append(dst, c)
	}
	return dst
}

// appendParamValue appends s as a PARAM-VALUE: valid UTF-8, '"', '\' and
// ']' escaped, control characters written as spaces. Runs of bytes that
// need none of it are copied whole.
func appendParamValue(dst []byte, s string) []byte {
	run := 0 // start of the run not yet copied
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != ']' {
			i++
			continue
		}
		r, n := rune(c), 1
		if c >= utf8.RuneSelf {
			r, n = utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || n > 1 {
				i += n // valid UTF-8: copied with the run
				continue
			}
		}
		dst = append(dst, s[run:i]...)
		switch {
		case r == utf8.RuneError:
			dst = utf8.AppendRune(dst, utf8.RuneError)
		case r == '"' || r == '\\' || r == ']':
			dst = append(dst, '\\', c)
		default: // a control character
			dst = append(dst, ' ')
		}
		i += n
		run = i
	}
	return append(dst, s[run:]...)
}
