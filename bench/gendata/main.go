// Command gendata writes the benchmark dataset: real source files (a copy of
// the Go distribution's src tree), compressible JSON-lines records and
// incompressible random data, deterministically from a seed.
//
//	go run ./bench/gendata -out DIR [-size-mib 1024]
//	go run ./bench/gendata -out DIR -profile small [-size-mib 1024]
//	go run ./bench/gendata -out DIR -mutate    # the incremental change set
//
// The default profile ("mixed") is the source tree plus records and random
// files of 4 KiB to 64 MiB. The "small" profile is a tree of many small
// files, as a SaaS tenant's uploads and documents are: the source tree,
// then at least 40,000 files of 256 B to 64 KiB (median under 8 KiB) in
// at least 3,000 directories, then large files for what remains of the
// size.
//
// -mutate inserts 1 KiB in the middle of the largest records file and
// rewrites 1% of the files, as the incremental benchmark needs.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	out := flag.String("out", "", "directory to write (required)")
	sizeMiB := flag.Int("size-mib", 1024, "approximate total size in MiB")
	mutate := flag.Bool("mutate", false, "apply the incremental change set to an existing dataset")
	profile := flag.String("profile", "mixed", "dataset shape: mixed or small")
	flag.Parse()
	if *out == "" {
		log.Fatal("gendata: -out is required")
	}
	if *mutate {
		if err := applyMutation(*out); err != nil {
			log.Fatal(err)
		}
		return
	}
	gen := generate
	switch *profile {
	case "mixed":
	case "small":
		gen = generateSmall
	default:
		log.Fatalf("gendata: -profile %q: want mixed or small", *profile)
	}
	if err := gen(*out, int64(*sizeMiB)<<20); err != nil {
		log.Fatal(err)
	}
}

// Shape of the small-files profile.
const (
	smallFiles = 42_000
	smallDirs  = 3_200
)

// generateSmall writes the small-files profile: the source tree, the
// small files, then large random and record files for the rest.
func generateSmall(out string, total int64) error {
	goroot, err := goRoot()
	if err != nil {
		return err
	}
	srcBytes, err := copyTree(filepath.Join(goroot, "src"), filepath.Join(out, "src"))
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(3, 4))
	smallBytes, err := writeSmallTree(filepath.Join(out, "tenants"), rng)
	if err != nil {
		return err
	}
	rest := max(total-srcBytes-smallBytes, 0)
	if err := writeFiles(filepath.Join(out, "records"), rest/2, rng, writeRecords); err != nil {
		return err
	}
	return writeFiles(filepath.Join(out, "blobs"), rest/2, rng, writeRandom)
}

// writeSmallTree writes smallFiles files over smallDirs directories two
// levels deep: sizes mostly 256 B to 4 KiB, some to 16 KiB and a few to
// 64 KiB; two in three are JSON records (compressible), the rest random.
func writeSmallTree(dir string, rng *rand.Rand) (int64, error) {
	var total int64
	for i := range smallFiles {
		d := filepath.Join(dir, fmt.Sprintf("t%02d", i%smallDirs/100), fmt.Sprintf("d%04d", i%smallDirs))
		if i < smallDirs {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return total, err
			}
		}
		n := smallSize(rng)
		fill, name := writeRecords, fmt.Sprintf("doc-%05d.json", i)
		if i%3 == 2 {
			fill, name = writeRandom, fmt.Sprintf("upload-%05d.bin", i)
		}
		if err := writeFile(filepath.Join(d, name), n, rng, fill); err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// smallSize draws a small file's size.
func smallSize(rng *rand.Rand) int64 {
	switch p := rng.IntN(100); {
	case p < 70:
		return 256 + rng.Int64N(4<<10-256)
	case p < 95:
		return 4<<10 + rng.Int64N(12<<10)
	default:
		return 16<<10 + rng.Int64N(48<<10)
	}
}

// writeFile writes one file of n bytes with fill.
func writeFile(path string, n int64, rng *rand.Rand, fill func(w io.Writer, n int64, rng *rand.Rand) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	if err := fill(bw, n, rng); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func generate(out string, total int64) error {
	goroot, err := goRoot()
	if err != nil {
		return err
	}
	srcBytes, err := copyTree(filepath.Join(goroot, "src"), filepath.Join(out, "src"))
	if err != nil {
		return err
	}
	rest := total - srcBytes
	if rest < 0 {
		rest = 0
	}
	rng := rand.New(rand.NewPCG(1, 2))
	// Roughly half of the rest compressible records, half random bytes.
	if err := writeFiles(filepath.Join(out, "records"), rest*55/100, rng, writeRecords); err != nil {
		return err
	}
	return writeFiles(filepath.Join(out, "blobs"), rest*45/100, rng, writeRandom)
}

// goRoot returns the GOROOT of the go command on PATH, whose src tree is the
// dataset's source files. runtime.GOROOT is deprecated: it names the root the
// binary was built with, which need not exist where it runs.
func goRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return "", fmt.Errorf("gendata: go env GOROOT: %w (is the go command on PATH?)", err)
	}
	root := strings.TrimSpace(string(out))
	if root == "" {
		return "", fmt.Errorf("gendata: go env GOROOT printed nothing")
	}
	return root, nil
}

// writeFiles writes files of mixed sizes (4 KiB to 64 MiB) until budget is spent.
func writeFiles(dir string, budget int64, rng *rand.Rand, fill func(w io.Writer, n int64, rng *rand.Rand) error) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	sizes := []int64{4 << 10, 64 << 10, 512 << 10, 2 << 20, 8 << 20, 64 << 20}
	for i := 0; budget > 0; i++ {
		n := sizes[i%len(sizes)]
		if n > budget {
			n = budget
		}
		if err := writeFile(filepath.Join(dir, fmt.Sprintf("part-%05d.dat", i)), n, rng, fill); err != nil {
			return err
		}
		budget -= n
	}
	return nil
}

var words = []string{"reservation", "guest", "room", "invoice", "paid", "pending", "cancelled", "suite", "breakfast", "checkin", "checkout", "amount", "currency", "EUR", "USD", "note"}

func writeRecords(w io.Writer, n int64, rng *rand.Rand) error {
	var written int64
	for id := 0; written < n; id++ {
		line := fmt.Sprintf(`{"id":%d,"tenant":"t%03d","kind":%q,"status":%q,"amount":%d.%02d,"note":"%s %s %s"}`+"\n",
			id, rng.IntN(500), words[rng.IntN(len(words))], words[rng.IntN(len(words))], rng.IntN(5000), rng.IntN(100),
			words[rng.IntN(len(words))], words[rng.IntN(len(words))], words[rng.IntN(len(words))])
		if int64(len(line)) > n-written {
			line = line[:n-written]
		}
		m, err := io.WriteString(w, line)
		if err != nil {
			return err
		}
		written += int64(m)
	}
	return nil
}

func writeRandom(w io.Writer, n int64, rng *rand.Rand) error {
	buf := make([]byte, 64<<10)
	for n > 0 {
		for i := 0; i+8 <= len(buf); i += 8 {
			v := rng.Uint64()
			for j := 0; j < 8; j++ {
				buf[i+j] = byte(v >> (8 * j))
			}
		}
		k := min(int64(len(buf)), n)
		if _, err := w.Write(buf[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

func copyTree(src, dst string) (int64, error) {
	var total int64
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		outf, err := os.Create(target)
		if err != nil {
			return err
		}
		n, err := io.Copy(outf, in)
		total += n
		if cerr := outf.Close(); err == nil {
			err = cerr
		}
		return err
	})
	return total, err
}

// applyMutation inserts 1 KiB in the middle of the largest records file and
// rewrites the first 100 bytes of 1% of all files (every 100th in path order).
func applyMutation(out string) error {
	var files []string
	var largest string
	var largestSize int64
	err := filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files = append(files, p)
		if info, err := d.Info(); err == nil && filepath.Base(filepath.Dir(p)) == "records" && info.Size() > largestSize {
			largest, largestSize = p, info.Size()
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(files)
	if largest != "" {
		b, err := os.ReadFile(largest)
		if err != nil {
			return err
		}
		mid := len(b) / 2
		ins := make([]byte, 1024)
		for i := range ins {
			ins[i] = byte('a' + i%26)
		}
		nb := append(append(append([]byte{}, b[:mid]...), ins...), b[mid:]...)
		if err := os.WriteFile(largest, nb, 0o644); err != nil {
			return err
		}
	}
	changed := 0
	for i, p := range files {
		if i%100 != 7 || p == largest {
			continue
		}
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, err = f.WriteAt([]byte(fmt.Sprintf("// changed %d\n", i)), 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		changed++
	}
	fmt.Printf("mutated: inserted 1 KiB into %s, rewrote %d of %d files\n", largest, changed, len(files))
	return nil
}
