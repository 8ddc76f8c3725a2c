package console

import (
	"fmt"
	"html/template"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/restore"
)

// funcs are the template functions.
var funcs = template.FuncMap{
	"bytes":    formatBytes,
	"age":      formatAge,
	"time":     formatTime,
	"join":     strings.Join,
	"query":    url.QueryEscape,
	"pathq":    url.PathEscape,
	"percent":  func(f float64) string { return fmt.Sprintf("%g", f) },
	"contains": slices.Contains[[]string],
	"first":    firstDecisions,
	"withData": func(p page, d any) page { p.Data = d; return p },
	"list":     func(s ...string) []string { return s },
	"progress": progressText,
}

// formatBytes writes n in binary units ("1.5 MiB").
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// formatAge writes a duration the way a person reads an age ("3h 20m").
func formatAge(d time.Duration) string {
	switch {
	case d < 0:
		return "in the future"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}

// formatTime writes t in UTC to the second.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// navItem is one entry of the main navigation; Needs is the action the
// page needs on no tenant in particular ("" for pages about tenants).
type navItem struct {
	Key, Label, Path string
	Needs            steward.Action
}

// nav lists the pages in the navigation.
var nav = []navItem{
	{"overview", "Overview", "/", ""},
	{"snapshots", "Snapshots", "/snapshots", ""},
	{"restore", "Restore", "/restore", ""},
	{"flags", "Flags", "/flags", steward.ActionFlagRead},
	{"audit", "Audit", "/audit", ""},
	{"releases", "Releases", "/releases", steward.ActionReleaseRead},
	{"retention", "Retention", "/retention", ""},
}

// maxDecisions bounds the decisions a page lists; the counts cover all.
const maxDecisions = 500

// firstDecisions is the first maxDecisions of d.
func firstDecisions(d []restore.Decision) []restore.Decision {
	return d[:min(len(d), maxDecisions)]
}
