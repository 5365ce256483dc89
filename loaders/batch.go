package loaders

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/pg"
)

// parsed is a small file read whole and parsed into binary COPY rows,
// ready to be sent in its group's transaction.
type parsed struct {
	i    int // its index in the paths being loaded
	hash string
	size int64 // of the bytes hashed and parsed, whatever the listing said
	fl   *fileLoad
	info Stat
	// where its rows are in the group's arenas
	parent, child, sums, rowSums [2]int
}

// arenas hold a group's rows in binary COPY format, one per table; a
// worker keeps its arenas from group to group.
type arenas struct {
	parent, child, sums, rowSums []byte
}

// mark is where each arena ends.
func (a *arenas) mark() [4]int {
	return [4]int{len(a.parent), len(a.child), len(a.sums), len(a.rowSums)}
}

// cut drops what the arenas took since m.
func (a *arenas) cut(m [4]int) {
	a.parent, a.child, a.sums, a.rowSums = a.parent[:m[0]], a.child[:m[1]], a.sums[:m[2]], a.rowSums[:m[3]]
}

// loadGroup loads a group of small local files (indexes into the load's
// paths) in one transaction: each is read once, hashed, checked against
// the manifest and parsed before the transaction starts; then the files
// are claimed, their rows copied with one COPY per table, their rejects
// and days recorded and the content they replace retired, together. A
// group the database refuses is loaded again file by file, so that one
// file's fault stays its own.
func (ld *loading) loadGroup(ctx context.Context, unit []int, buf *arenas) error {
	buf.cut([4]int{})
	files, data := ld.readGroup(unit)
	todo, err := ld.newContent(ctx, files)
	if err != nil || len(todo) == 0 {
		return err
	}
	ids, err := ld.ledger.ReserveLoadIDs(ctx, ld.pool, len(todo))
	if err != nil {
		return err
	}
	c, err := ld.CSV.contract(ld.src)
	if err != nil {
		return err
	}
	send := ld.parseGroup(c, todo, ids, data, buf)
	if send, err = ld.dropCopies(ctx, send); err != nil || len(send) == 0 {
		return err
	}
	err = ld.commitGroup(ctx, c, send, buf)
	if err != nil {
		// Rolled back: none of them is loaded, whatever their parse said.
		for _, f := range send {
			ld.results[f.i] = Result{}
		}
	}
	if err == nil || ctx.Err() != nil {
		return err
	}
	// The database refused the group: each file alone, so that the fault
	// stays with its file.
	for _, f := range send {
		if ld.results[f.i], err = ld.loadAlone(ctx, f.i, 0); err != nil {
			return err
		}
	}
	return nil
}

// readGroup reads and hashes the files of a group; one that cannot be
// read fails alone. data holds each read file's bytes by its index.
func (ld *loading) readGroup(unit []int) (files []*parsed, data map[int][]byte) {
	files = make([]*parsed, 0, len(unit))
	data = map[int][]byte{}
	for _, i := range unit {
		ld.results[i] = Result{Source: ld.src.Name, Path: ld.record(ld.paths[i])}
		b, err := os.ReadFile(ld.paths[i])
		if err != nil {
			ld.results[i].Status, ld.results[i].Err = Failed, &SourceError{Path: ld.results[i].Path, Err: err}
			continue
		}
		sum := sha256.Sum256(b)
		files = append(files, &parsed{i: i, hash: hex.EncodeToString(sum[:]), size: int64(len(b)), info: ld.infos[i]})
		data[i] = b
	}
	return files, data
}

// newContent returns the files whose content the manifest does not know
// yet; the others are passed over, and their new modification times
// recorded, so that the next load need not read them.
func (ld *loading) newContent(ctx context.Context, files []*parsed) ([]*parsed, error) {
	hashes := make([]string, len(files))
	for k, f := range files {
		hashes[k] = f.hash
	}
	known, err := ld.ledger.KnownHashes(ctx, ld.pool, ld.src.Name, ld.contract, hashes)
	if err != nil {
		return nil, err
	}
	todo := files[:0]
	var touched []ledger.File
	for _, f := range files {
		res := &ld.results[f.i]
		res.seen = ledger.File{Size: f.size, Hash: f.hash, Modified: f.info.Modified}
		if k, ok := known[f.hash]; ok {
			passOver(res, k)
			if !f.info.Modified.IsZero() {
				touched = append(touched, ledger.File{Path: res.Path, Hash: f.hash, Size: f.size, Modified: f.info.Modified})
			}
			continue
		}
		todo = append(todo, f)
	}
	if err := ld.ledger.Touch(ctx, ld.pool, ld.src.Name, touched); err != nil {
		return nil, err
	}
	return todo, nil
}

// parseGroup parses the files of todo into buf under their load ids and
// returns those to send; a refused or unreadable file leaves nothing in
// buf.
func (ld *loading) parseGroup(c *contract, todo []*parsed, ids []int64, data map[int][]byte, buf *arenas) []*parsed {
	send := todo[:0]
	for k, f := range todo {
		res := &ld.results[f.i]
		res.LoadID = ids[k]
		f.fl = ld.test.newFileLoad(c, bytes.NewReader(data[f.i]), res.LoadID, res.Path)
		m := buf.mark()
		err := f.fl.encodeAll(buf)
		f.fl.release() // its counts and rejects stay; its buffers go back
		f.parent, f.child, f.sums = [2]int{m[0], len(buf.parent)}, [2]int{m[1], len(buf.child)}, [2]int{m[2], len(buf.sums)}
		f.rowSums = [2]int{m[3], len(buf.rowSums)}
		switch refused := refusal(res.Path, err, ld.src); {
		case refused != nil:
			res.Status, res.Err = Refused, refused
		case err != nil:
			res.Status, res.Err = Failed, &SourceError{Path: res.Path, Err: err}
		case !verdict(res, f.fl, ld.src):
			send = append(send, f)
			continue
		}
		buf.cut(m) // nothing of it is sent
	}
	return send
}

// commitGroup is the transaction of a group of parsed files.
func (ld *loading) commitGroup(ctx context.Context, c *contract, send []*parsed, buf *arenas) error {
	tx, err := ld.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background())
	claims := make([]ledger.File, len(send))
	for k, f := range send {
		r := ld.results[f.i]
		claims[k] = ledger.File{LoadID: r.LoadID, RunID: ld.runID, Source: ld.src.Name, Path: r.Path, Size: f.size, Hash: f.hash, Modified: f.info.Modified, Contract: ld.contract}
	}
	claimed, err := ld.ledger.ClaimFiles(ctx, tx, claims)
	if err != nil {
		return err
	}
	var parents, children, sums, rowSums chunks
	var done []ledger.Loaded
	for _, f := range send {
		r := &ld.results[f.i]
		if !claimed[r.LoadID] {
			// Loaded meanwhile by another process, or twice in this group.
			*r = Result{Source: r.Source, Path: r.Path, Status: Skipped}
			continue
		}
		parents = append(parents, buf.parent[f.parent[0]:f.parent[1]])
		children = append(children, buf.child[f.child[0]:f.child[1]])
		sums = append(sums, buf.sums[f.sums[0]:f.sums[1]])
		rowSums = append(rowSums, buf.rowSums[f.rowSums[0]:f.rowSums[1]])
		done = append(done, loaded(*r, f.fl))
		if err := ld.ledger.AddRejects(ctx, tx, r.LoadID, r.Source, r.Path, f.fl.rejects); err != nil {
			return err
		}
	}
	if len(done) == 0 {
		return nil
	}
	if err := copyGroup(ctx, tx, c, [4]chunks{parents, children, sums, rowSums}); err != nil {
		return err
	}
	retired, err := ld.ledger.FinishFiles(ctx, tx, done)
	if err != nil {
		return err
	}
	if err := deleteRetired(ctx, tx, c, retired); err != nil {
		return err
	}
	if ld.test.commit != nil {
		ld.test.commit()
	}
	if err := pg.Commit(ctx, tx); err != nil {
		return fmt.Errorf("commit a group of %d files: %w", len(done), err)
	}
	for _, f := range send {
		if r := &ld.results[f.i]; r.Status == Loaded && slices.Contains(retired.By, r.LoadID) {
			r.Status = Replaced
		}
	}
	return nil
}

// copyGroup copies a group's rows with one COPY per table: rows holds the
// parent's, the child's, the sums' and the row sums' chunks.
func copyGroup(ctx context.Context, tx pgx.Tx, c *contract, rows [4]chunks) error {
	conn := tx.Conn().PgConn()
	for k, t := range []*table{c.parent, c.child, c.sums, c.rowSums} {
		if t == nil {
			continue
		}
		stream := append(append(chunks{copyHeader}, rows[k]...), copyTrailer)
		if _, err := conn.CopyFrom(ctx, &stream, copySQL(t)); err != nil {
			return fmt.Errorf("copy into %s: %w", t.name, err)
		}
	}
	return nil
}

// chunks reads byte slices as one stream, each Read filling its buffer
// across their ends: COPY sends what one Read returns as one message in
// one write, and the files of a group are small. Read file by file, a
// year's load took 19,052 writes; this way 8,048 (strace -c).
type chunks [][]byte

func (c *chunks) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && len(*c) > 0 {
		k := copy(p[n:], (*c)[0])
		n += k
		if k == len((*c)[0]) {
			*c = (*c)[1:]
		} else {
			(*c)[0] = (*c)[0][k:]
		}
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}
