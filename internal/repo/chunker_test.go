package repo

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func chunkAll(t testing.TB, g *Gear, data []byte) [][]byte {
	return drain(t, NewChunker(g, bytes.NewReader(data), nil))
}

// drain returns copies of every chunk c cuts.
func drain(t testing.TB, c *Chunker) [][]byte {
	var out [][]byte
	for {
		ch, err := c.Next()
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		out = append(out, append([]byte(nil), ch...))
	}
}

func TestChunkerBoundsAndReassembly(t *testing.T) {
	g := NewGear([]byte("test"))
	data := randBytes(1, 40<<20)
	chunks := chunkAll(t, g, data)
	require.Equal(t, data, bytes.Join(chunks, nil))
	for i, c := range chunks {
		require.LessOrEqual(t, len(c), MaxChunk)
		if i < len(chunks)-1 {
			require.GreaterOrEqual(t, len(c), MinChunk)
		}
	}
	avg := len(data) / len(chunks)
	require.InDelta(t, AvgChunk, avg, AvgChunk/2, "average chunk %d", avg)
}

func TestChunkerInsertChangesFewChunks(t *testing.T) {
	g := NewGear([]byte("test"))
	data := randBytes(2, 32<<20)
	mid := len(data) / 2
	changed := append(append(append([]byte{}, data[:mid]...), bytes.Repeat([]byte("x"), 1024)...), data[mid:]...)
	a, b := chunkAll(t, g, data), chunkAll(t, g, changed)
	seen := map[string]bool{}
	for _, c := range a {
		seen[string(c)] = true
	}
	newChunks := 0
	for _, c := range b {
		if !seen[string(c)] {
			newChunks++
		}
	}
	require.LessOrEqual(t, newChunks, 3, "an insert in the middle changes a few chunks, got %d of %d", newChunks, len(b))
}

func TestChunkerSmallAndEmpty(t *testing.T) {
	g := NewGear(nil)
	require.Empty(t, chunkAll(t, g, nil))
	small := []byte("hello")
	require.Equal(t, [][]byte{small}, chunkAll(t, g, small))
}

func TestGearDependsOnSeed(t *testing.T) {
	require.NotEqual(t, NewGear([]byte("a")), NewGear([]byte("b")))
	require.Equal(t, NewGear([]byte("a")), NewGear([]byte("a")))
}

func BenchmarkChunker(b *testing.B) {
	g := NewGear([]byte("bench"))
	data := randBytes(3, 64<<20)
	buf := make([]byte, BigChunkerBuf) // what a backup of a large file uses
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		c := NewChunker(g, bytes.NewReader(data), buf)
		for {
			if _, err := c.Next(); err == io.EOF {
				break
			}
		}
	}
}

// BenchmarkCut measures the gear hash alone: the cuts of 64 MiB in memory.
func BenchmarkCut(b *testing.B) {
	g := NewGear([]byte("bench"))
	data := randBytes(3, 64<<20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		for rest := data; len(rest) > 0; {
			rest = rest[cut(g, rest):]
		}
	}
}

// A Chunker over data in memory cuts where one reading it does, for data
// shorter than a chunk, around MaxChunk and of many chunks.
func TestChunkerOverMemoryCutsAlike(t *testing.T) {
	g := NewGear([]byte("test"))
	for _, n := range []int{0, 1, MinChunk - 1, AvgChunk, MaxChunk, MaxChunk + 1, 12 << 20} {
		data := randBytes(uint64(n), n)
		want := chunkAll(t, g, data)
		require.Equal(t, want, drain(t, NewChunkerOver(g, data)), "%d bytes", n)
	}
}

// gearScan, four bytes a step, finds the cut a byte-at-a-time loop does,
// with the same hash when it finds none, for every start and mask here
// (small masks: cuts every few bytes, at each of the four positions).
func TestGearScanCutsWhereTheSimpleLoopDoes(t *testing.T) {
	g := NewGear([]byte("scan"))
	data := randBytes(9, 4099)
	simple := func(i int, h, mask uint64) (int, uint64, bool) {
		for ; i < len(data); i++ {
			h = h<<1 + g[data[i]]
			if h&mask == 0 {
				return i + 1, 0, true
			}
		}
		return len(data), h, false
	}
	for _, mask := range []uint64{spreadMask(1), spreadMask(3), spreadMask(6), spreadMask(13), maskS} {
		for start := 0; start < 40; start++ {
			for i, h := start, uint64(start); i < len(data); {
				wi, wh, wok := simple(i, h, mask)
				gi, gh, gok := gearScan(g, data, i, h, mask)
				require.Equal(t, [3]any{wi, wh, wok}, [3]any{gi, gh, gok}, "mask %x from %d", mask, i)
				if !wok {
					break
				}
				i, h = wi, uint64(wi)
			}
		}
	}
}
