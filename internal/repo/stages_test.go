package repo

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"testing"
)

// BenchmarkStages measures each stage of the pipeline alone on one core,
// on 1 MiB chunks of random (incompressible) and JSON-like (compressible)
// data: the ceilings the pipeline is compared against in BENCHMARKS.md.
func BenchmarkStages(b *testing.B) {
	random := randBytes(1, 1<<20)
	var text []byte
	for i := 0; len(text) < 1<<20; i++ {
		text = fmt.Appendf(text, `{"id":%d,"tenant":"t%03d","status":"paid","amount":%d.%02d}`+"\n", i, i%500, i%5000, i%100)
	}
	text = text[:1<<20]
	k, err := deriveKeys(bytes.Repeat([]byte{7}, 32), true)
	if err != nil {
		b.Fatal(err)
	}
	c := newCodec()
	for _, d := range []struct {
		name string
		data []byte
	}{{"random", random}, {"text", text}} {
		b.Run("sha256/"+d.name, func(b *testing.B) {
			b.SetBytes(int64(len(d.data)))
			b.ReportAllocs()
			for b.Loop() {
				sha256.Sum256(d.data)
			}
		})
		b.Run("hmac-id/"+d.name, func(b *testing.B) {
			b.SetBytes(int64(len(d.data)))
			b.ReportAllocs()
			for b.Loop() {
				k.id(d.data)
			}
		})
		b.Run("zstd-fastest/"+d.name, func(b *testing.B) {
			dst := make([]byte, 0, 2<<20)
			b.SetBytes(int64(len(d.data)))
			b.ReportAllocs()
			for b.Loop() {
				dst = c.compress(dst[:0], d.data, false)
			}
			b.ReportMetric(float64(len(dst))/float64(len(d.data)), "ratio")
		})
		b.Run("aes-gcm-seal/"+d.name, func(b *testing.B) {
			dst := make([]byte, 0, 2<<20)
			b.SetBytes(int64(len(d.data)))
			b.ReportAllocs()
			for b.Loop() {
				dst = k.seal(dst[:0], d.data, []byte("ad"))
			}
		})
		b.Run("chunker/"+d.name, func(b *testing.B) {
			b.SetBytes(int64(len(d.data)))
			for b.Loop() {
				cut(k.gear, d.data)
			}
		})
	}
}
