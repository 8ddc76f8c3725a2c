package siem_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/audit/siem"
	"github.com/iluxsys/steward/storage"
)

// A Log's events streamed to a syslog daemon: here a listener on
// loopback stands for the SIEM's.
func ExampleNewSyslog() {
	ctx := context.Background()
	daemon, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer daemon.Close()
	received := make(chan []byte)
	go func() {
		c, err := daemon.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		defer close(received)
		br := bufio.NewReader(c)
		for { // each line framed as "LEN SP LINE" (RFC 6587)
			n, err := br.ReadString(' ')
			if err != nil {
				return
			}
			size, _ := strconv.Atoi(strings.TrimSuffix(n, " "))
			line := make([]byte, size)
			if _, err := io.ReadFull(br, line); err != nil {
				return
			}
			received <- line
		}
	}()

	log, err := audit.NewLog(ctx, storage.NewMemory(), &audit.LogConfig{RecordKey: []byte("a host secret of at least 16 bytes")})
	if err != nil {
		panic(err)
	}
	sink, err := siem.NewSyslog(daemon.Addr().String(), &siem.SyslogConfig{Hostname: "app-1"})
	if err != nil {
		panic(err)
	}
	if err := sink.Attach(log); err != nil {
		panic(err)
	}
	_ = log.Record(ctx, audit.Event{Type: audit.TypeBackupCreated, Tenant: "acme", UserID: "ops", Message: "full backup"})
	_ = log.Record(ctx, audit.Event{Type: audit.TypeBackupFailed, Level: audit.LevelError, Tenant: "globex", UserID: "ops", Message: "disk full"})
	left, err := sink.Close(ctx)
	fmt.Println("left:", left, err)

	for range 2 {
		l, err := siem.ParseLine(<-received)
		if err != nil {
			panic(err)
		}
		fmt.Println(l.Seq, l.Hostname, l.SDID, l.Type, l.Tenant, l.Principal, l.Outcome, l.Message)
	}
	// Output:
	// left: 0 <nil>
	// 1 app-1 steward@32473 backup.created acme ops success full backup
	// 2 app-1 steward@32473 backup.failed globex ops failure disk full
}

// A Log's events as slog records; with the OpenTelemetry bridge for slog
// (otelslog.NewLogger) instead of a text handler they reach an
// OpenTelemetry collector.
func ExampleNewSlog() {
	ctx := context.Background()
	log, err := audit.NewLog(ctx, storage.NewMemory(), nil)
	if err != nil {
		panic(err)
	}
	stable := func(_ []string, a slog.Attr) slog.Attr { // leave out what changes from run to run
		switch a.Key {
		case slog.TimeKey, siem.ParamID, siem.ParamHash, siem.ParamPrev:
			return slog.Attr{}
		}
		return a
	}
	handler := slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: stable})
	sink := siem.NewSlog(slog.New(handler), nil)
	if err := sink.Attach(log); err != nil {
		panic(err)
	}
	_ = log.Record(ctx, audit.Event{Type: audit.TypeBackupCreated, Tenant: "acme", UserID: "ops", Message: "full backup",
		Data: map[string]any{audit.DataFileCount: 3}})
	if _, err := sink.Close(ctx); err != nil {
		panic(err)
	}
	// Output:
	// level=INFO msg="full backup" audit.seq=1 audit.type=backup.created audit.level=info audit.outcome=success audit.tenant=acme audit.principal=ops audit.action="" audit.message="full backup" audit.data.file_count=3
}
