package console_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The README's console section shows a screenshot of every page the
// end-to-end tests visit, and each file is there.
func TestReadmeShowsEveryPage(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(readme), "## Admin console")
	require.True(t, ok, "README.md has no console section")
	section, _, _ = strings.Cut(section, "\n## ")
	names := []string{"restore-running", "restore-report"}
	for _, pc := range pages(newFixture(t)) {
		names = append(names, pc.name)
	}
	for _, name := range names {
		rel := "examples/console/screenshots/" + name + ".png"
		require.Contains(t, section, "]("+rel+")", "README's console section does not show %s", rel)
		_, err := os.Stat(filepath.Join("..", rel))
		require.NoError(t, err, "the screenshot the README shows")
	}
}
