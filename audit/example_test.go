package audit_test

import (
	"context"
	"fmt"
	"slices"
	"strings"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/storage"
)

func ExampleLog() {
	ctx := context.Background()
	log, err := audit.NewLog(ctx, storage.NewMemory(), &audit.LogConfig{RecordKey: []byte("a host secret of at least 16 bytes")})
	if err != nil {
		panic(err)
	}
	_ = log.Record(ctx, audit.Event{Type: audit.TypeBackupCreated, Tenant: "acme", UserID: "ops", Message: "full backup"})
	_ = log.Record(ctx, audit.Event{Type: audit.TypeBackupFailed, Level: audit.LevelError, Tenant: "globex", UserID: "ops", Message: "disk full"})

	reader := steward.WithPrincipal(ctx, steward.Principal{ID: "auditor", Roles: []string{steward.RoleMaster}})
	rep, err := log.Verify(reader)
	fmt.Println(rep.Events, err)
	failures, _ := log.Query(reader, audit.Filter{Levels: []audit.Level{audit.LevelError}})
	fmt.Println(failures[0].Tenant, failures[0].Message)
	d, _ := log.Dashboard(reader)
	fmt.Println(d.TenantBackups.TotalCount, d.TenantBackups.FailedCount)
	// Output:
	// 2 <nil>
	// globex disk full
	// 2 1
}

// The host keeps each signed checkpoint outside the store; VerifyFrom then
// detects a tail cut together with the checkpoints above it.
func ExampleLog_VerifyFrom() {
	ctx := context.Background()
	var anchor audit.Checkpoint // in practice: another bucket, a database row
	log, err := audit.NewLog(ctx, storage.NewMemory(), &audit.LogConfig{
		RecordKey:       []byte("a host secret of at least 16 bytes"),
		CheckpointEvery: 2,
		OnCheckpoint:    func(_ context.Context, cp audit.Checkpoint) { anchor = cp },
	})
	if err != nil {
		panic(err)
	}
	for range 5 {
		_ = log.Record(ctx, audit.Event{Type: audit.TypeBackupCreated, Tenant: "acme"})
	}
	reader := steward.WithPrincipal(ctx, steward.Principal{ID: "auditor", Roles: []string{steward.RoleMaster}})
	rep, err := log.VerifyFrom(reader, anchor)
	fmt.Println(anchor.Seq, rep.Events, rep.Checkpoints, err)
	// Output:
	// 4 5 2 <nil>
}

// Metered wraps any Auditor (here a Log) and counts its events by type,
// level and outcome; a failure recorded under a success type counts as
// one.
func ExampleMetered() {
	ctx := context.Background()
	log, err := audit.NewLog(ctx, storage.NewMemory(), nil)
	if err != nil {
		panic(err)
	}
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	aud, err := audit.Metered(log, provider.Meter("steward"))
	if err != nil {
		panic(err)
	}
	_ = aud.Record(ctx, audit.Event{Type: audit.TypeRepoInitialized, Tenant: "acme"})
	_ = aud.Record(ctx, audit.Event{Type: audit.TypeRepoInitialized, Level: audit.LevelError, Tenant: "acme",
		Data: map[string]any{audit.DataError: "already exists"}})

	var rm metricdata.ResourceMetrics
	_ = reader.Collect(ctx, &rm)
	var lines []string
	for _, dp := range rm.ScopeMetrics[0].Metrics[0].Data.(metricdata.Sum[int64]).DataPoints {
		var attrs []string
		for _, kv := range dp.Attributes.ToSlice() {
			attrs = append(attrs, string(kv.Key)+"="+kv.Value.String())
		}
		lines = append(lines, fmt.Sprintf("%s %d", strings.Join(attrs, " "), dp.Value))
	}
	slices.Sort(lines)
	fmt.Println(strings.Join(lines, "\n"))
	// Output:
	// level=error outcome=failure type=repo.initialized 1
	// level=info outcome=success type=repo.initialized 1
}
