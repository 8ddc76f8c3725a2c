//go:build deps

// Package deps pins modules the project has chosen but does not import yet,
// so that go mod tidy keeps them. It is never built.
package deps

import (
	_ "github.com/CycloneDX/cyclonedx-go"
	_ "github.com/Masterminds/semver/v3"
	_ "github.com/google/uuid"
	_ "github.com/johannesboyne/gofakes3"
	_ "github.com/johannesboyne/gofakes3/backend/s3mem"
	_ "github.com/klauspost/compress/zstd"
	_ "github.com/open-feature/go-sdk/openfeature"
	_ "github.com/robfig/cron/v3"
	_ "github.com/schollz/progressbar/v3"
	_ "github.com/spf13/cobra"
	_ "github.com/stretchr/testify/require"
	_ "go.opentelemetry.io/otel/metric"
	_ "go.opentelemetry.io/otel/metric/noop"
	_ "gocloud.dev/blob"
	_ "gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/memblob"
	_ "gocloud.dev/blob/s3blob"
	_ "gocloud.dev/secrets"
	_ "gocloud.dev/secrets/localsecrets"
	_ "golang.org/x/crypto/argon2"
	_ "golang.org/x/crypto/hkdf"
	_ "golang.org/x/sync/errgroup"
	_ "modernc.org/sqlite"
)
