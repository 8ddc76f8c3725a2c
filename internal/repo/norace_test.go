//go:build !race

package repo

// raceEnabled reports a -race build (see race_test.go).
const raceEnabled = false
