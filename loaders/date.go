package loaders

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/percolate/percolate/internal/config"
)

// ErrNoDate is returned for a file whose day cannot be told.
var ErrNoDate = errors.New("no date")

// Day tells the day a file holds: from its name when the source declares
// file_date, else from its first row that keeps the contract (read from
// the bucket through s3 for an s3:// path).
func Day(ctx context.Context, src *config.Source, path string, s3 func(context.Context) (*S3, error)) (time.Time, error) {
	if src.FileDate != nil {
		if d, ok := src.FileDate.Date(filepath.Base(path)); ok {
			return d, nil
		}
	}
	c, err := newContract(src, nil)
	if err != nil {
		return time.Time{}, fmt.Errorf("the day of %s: %w", path, err)
	}
	if c.dateAt < 0 {
		return time.Time{}, fmt.Errorf("%s: %w: source %s has no file_date and no column with a date", path, ErrNoDate, src.Name)
	}
	f, err := open(ctx, path, s3)
	if err != nil {
		return time.Time{}, fmt.Errorf("the day of %s: %w", path, err)
	}
	defer f.Close()
	rd := newCSVReader(f, src.Limits().Line)
	for i := 0; i < 100; i++ {
		fields, _, err := rd.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			continue
		}
		if _, rerr := c.parse(fields); rerr == nil {
			return time.UnixMicro(c.vals[c.dateAt].local).UTC().Truncate(24 * time.Hour), nil
		}
	}
	return time.Time{}, fmt.Errorf("%s: %w: no row of its first 100 keeps the %s contract", path, ErrNoDate, src.Name)
}
