package loaders

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/percolate/percolate/internal/config"
	"github.com/percolate/percolate/internal/ledger"
)

// s3Meta is what the bucket listing said of an s3:// path.
func (l *CSV) s3Meta(ctx context.Context, path string) (objectMeta, bool) {
	if !IsS3(path) || l.opt.S3 == nil {
		return objectMeta{}, false
	}
	c, err := l.opt.S3(ctx)
	if err != nil {
		return objectMeta{}, false
	}
	return c.listed(path)
}

// open reads a local file, or an object in a bucket through s3.
func open(ctx context.Context, path string, s3 func(context.Context) (*S3, error)) (io.ReadCloser, error) {
	if !IsS3(path) {
		return os.Open(path)
	}
	if s3 == nil {
		return nil, fmt.Errorf("%s: no S3 client configured", path)
	}
	c, err := s3(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c.Open(ctx, path)
}

// Stat is what a load needs to know of a local file before it reads it:
// its size, and its modification time as the manifest keeps it (UTC, to
// the microsecond).
type Stat struct {
	Size     int64
	Modified time.Time
}

// StatFile stats a local file; ok is false when path is not a regular
// file (a folder, a device).
func StatFile(path string) (st Stat, ok bool, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Stat{}, false, err
	}
	return Stat{Size: fi.Size(), Modified: fi.ModTime().UTC().Truncate(time.Microsecond)}, fi.Mode().IsRegular(), nil
}

// survey stats the local files among paths (or asks Options.Listed) and
// tells which are recorded already with the same path, size and
// modification time, loaded or refused under contract (see ledger.Known):
// those are not read again (unless Options.Rehash). Of a source whose
// files are never rewritten, a path recorded so is not read again whatever
// its size and time, nor stated.
func (l *CSV) survey(ctx context.Context, src *config.Source, contract string, paths []string) ([]Stat, map[int]ledger.Known, error) {
	infos := make([]Stat, len(paths))
	unchanged := map[int]ledger.Known{}
	byPath, err := l.knownPaths(ctx, src, contract, paths)
	if err != nil {
		return nil, nil, err
	}
	var local []ledger.File
	var at []int
	for i, p := range paths {
		if IsS3(p) {
			continue
		}
		rec := l.record(p)
		if k, ok := byPath[rec]; ok {
			unchanged[i] = k
			continue
		}
		st, ok := Stat{}, false
		if l.opt.Listed != nil {
			st, ok = l.opt.Listed(p)
		}
		if !ok {
			var err error
			if st, _, err = StatFile(p); err != nil {
				continue // loading it will say why
			}
		}
		infos[i] = st
		local = append(local, ledger.File{Path: rec, Size: st.Size, Modified: st.Modified})
		at = append(at, i)
	}
	if l.opt.Rehash || len(local) == 0 {
		return infos, unchanged, nil
	}
	same, err := l.ledger.Unchanged(ctx, l.pool, src.Name, contract, local)
	if err != nil {
		return nil, nil, err
	}
	for k, f := range local {
		if known, ok := same[f.Path]; ok {
			unchanged[at[k]] = known
		}
	}
	return infos, unchanged, nil
}

// knownPaths returns, by recorded path, the local files among paths of
// a source whose files are never rewritten that need not be read again
// (see ledger.KnownPaths); nothing for another source, or on Rehash.
func (l *CSV) knownPaths(ctx context.Context, src *config.Source, contract string, paths []string) (map[string]ledger.Known, error) {
	if !src.Immutable || l.opt.Rehash {
		return nil, nil
	}
	var records []string
	for _, p := range paths {
		if !IsS3(p) {
			records = append(records, l.record(p))
		}
	}
	return l.ledger.KnownPaths(ctx, l.pool, src.Name, contract, records)
}

// hash reads a file or object once for its content hash and size. An
// object listed with the ETag and size it had when it was loaded is not
// read again: the manifest knows its hash.
func (l *CSV) hash(ctx context.Context, src *config.Source, path string) (string, int64, error) {
	if meta, ok := l.s3Meta(ctx, path); ok {
		sum, known, err := l.ledger.HashByETag(ctx, l.pool, src.Name, path, meta.etag, meta.size)
		if err != nil || known {
			return sum, meta.size, err
		}
	}
	f, err := open(ctx, path, l.opt.S3)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	return hashStream(ctx, f, nil)
}

// hashStream reads r to its end for its content hash and size, writing
// what it reads to also as well when it is not nil; it stops when ctx is
// done.
func hashStream(ctx context.Context, r io.Reader, also io.Writer) (string, int64, error) {
	h := sha256.New()
	var w io.Writer = h
	if also != nil {
		w = io.MultiWriter(h, also)
	}
	n, err := io.Copy(w, &ctxReader{ctx: ctx, r: r})
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// ctxReader reads r until ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Pending returns the paths whose content is not loaded for src yet: what
// a load would take. Like a load, it does not read a local file loaded
// before at the same path with the same size and modification time.
func (l *CSV) Pending(ctx context.Context, src *config.Source, paths []string) ([]string, error) {
	contract := Fingerprint(src)
	_, unchanged, err := l.survey(ctx, src, contract, paths)
	if err != nil {
		return nil, fmt.Errorf("pending files of source %s: %w", src.Name, err)
	}
	var left []string
	var hashes []string
	for i, p := range paths {
		if _, same := unchanged[i]; same {
			continue
		}
		sum, _, err := l.hash(ctx, src, p)
		if err != nil {
			return nil, fmt.Errorf("pending files of source %s: hash %s: %w", src.Name, p, err)
		}
		left, hashes = append(left, p), append(hashes, sum)
	}
	known, err := l.ledger.KnownHashes(ctx, l.pool, src.Name, contract, hashes)
	if err != nil {
		return nil, fmt.Errorf("pending files of source %s: %w", src.Name, err)
	}
	var out []string
	for i, p := range left {
		if _, ok := known[hashes[i]]; !ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// Parse does to files what a load of src does on the client (read them;
// type, scrub, hash and explode their rows into Arrow batches; encode
// those for binary COPY) and drops the result: the client's share of a
// load, measured without a database. It returns the data rows read.
func Parse(src *config.Source, key []byte, paths []string) (int64, error) {
	c, err := newContract(src, key)
	if err != nil {
		return 0, fmt.Errorf("parse source %s: %w", src.Name, err)
	}
	var rows int64
	var buf arenas
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return rows, fmt.Errorf("parse source %s: %w", src.Name, err)
		}
		fl := newFileLoad(c, f, 1, p)
		buf.cut([4]int{})
		err = fl.encodeAll(&buf)
		rows += fl.rows
		fl.release()
		f.Close()
		if err != nil {
			return rows, fmt.Errorf("%s: %w", p, err)
		}
	}
	return rows, nil
}
