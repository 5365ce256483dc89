package loaders

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/percolate/percolate/internal/config"
	"github.com/percolate/percolate/internal/ledger"
)

// fingerprint tells a file's rows by their keyed ids: how many, the XOR
// of their first halves and the sum of their second halves. The ids are
// keyed hashes, so two files whose rows differ have equal fingerprints
// with a chance of about one in 2^64 (a repeated row, which XOR cancels,
// still counts in the rows and the sum). Where the key is made from every
// column (keyTellsRows), equal keys are equal rows: a file with a loaded
// file's fingerprint is that file delivered again, re-encoded or under a
// new name, and is recorded as its copy instead of being loaded, so a
// branch re-sending history costs the reading and nothing of the build.
type fingerprint struct {
	rows int64
	x, s uint64
}

func (p *fingerprint) add(key [16]byte) {
	p.rows++
	p.x ^= binary.LittleEndian.Uint64(key[:8])
	p.s += binary.LittleEndian.Uint64(key[8:])
}

func (p fingerprint) String() string {
	return fmt.Sprintf("%d:%016x:%016x", p.rows, p.x, p.s)
}

// keyTellsRows says whether src's key is made from every one of its
// columns, so that rows with equal keys are equal.
func keyTellsRows(src *config.Source) bool {
	if src.Key.Column == "" {
		return false
	}
	from := map[string]bool{}
	for _, c := range src.Key.From {
		from[c] = true
	}
	for _, c := range src.Columns {
		if !from[c.Name] {
			return false
		}
	}
	return true
}

// rowsPrint is what the manifest records of the file's rows: its
// fingerprint where its key tells rows, else "".
func (f *fileLoad) rowsPrint() string {
	if !f.c.keyTellsRows || f.print.rows == 0 {
		return ""
	}
	return f.print.String()
}

// dropCopies takes out of send the files whose rows are, key for key,
// those of a file loaded at another path under contract, and records each
// as a copy of it (see ledger.Touch): skipped, as a copy of its bytes
// would be. A file with rejects is loaded as usual: its rejects are news.
func (ld *loading) dropCopies(ctx context.Context, send []*parsed) ([]*parsed, error) {
	var paths, prints []string
	for _, f := range send {
		if p := f.fl.rowsPrint(); p != "" && len(f.fl.rejects) == 0 {
			paths, prints = append(paths, ld.results[f.i].Path), append(prints, p)
		}
	}
	if len(paths) == 0 {
		return send, nil
	}
	same, err := ld.ledger.SameRows(ctx, ld.pool, ld.src.Name, ld.contract, paths, prints)
	if err != nil || len(same) == 0 {
		return send, err
	}
	var copies []ledger.File
	keep := send[:0]
	for _, f := range send {
		res := &ld.results[f.i]
		hash, ok := same[res.Path]
		if !ok {
			keep = append(keep, f)
			continue
		}
		*res = Result{Source: res.Source, Path: res.Path, Status: Skipped, Redelivered: true}
		copies = append(copies, ledger.File{Path: res.Path, Hash: hash, Size: f.size, Modified: f.info.Modified})
	}
	return keep, ld.ledger.Touch(ctx, ld.pool, ld.src.Name, copies)
}
