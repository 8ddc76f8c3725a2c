package main

import (
	"bytes"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"
)

// startProfiles starts the CPU profile and a sampler that keeps the heap
// profile taken when the heap in use was largest (the peak is what RSS
// measures, not the end of the run).
func (a *app) startProfiles() error {
	var stops []func()
	if a.cpuProfile != "" {
		f, err := os.Create(a.cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
	}
	if a.memProfile != "" {
		runtime.MemProfileRate = 64 << 10
		done := make(chan struct{})
		var wg sync.WaitGroup
		var best bytes.Buffer
		var peak uint64
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(250 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					// A collection first, so the profile and the figure
					// are the live heap, not garbage awaiting a cycle.
					runtime.GC()
					var ms runtime.MemStats
					runtime.ReadMemStats(&ms)
					if ms.HeapAlloc > peak {
						peak = ms.HeapAlloc
						best.Reset()
						_ = pprof.Lookup("heap").WriteTo(&best, 0)
					}
				}
			}
		}()
		stops = append(stops, func() {
			close(done)
			wg.Wait()
			_ = os.WriteFile(a.memProfile, best.Bytes(), 0o644)
		})
	}
	a.stopProfiles = func() {
		for _, s := range stops {
			s()
		}
	}
	return nil
}
