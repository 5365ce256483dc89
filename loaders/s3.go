package loaders

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// IsS3 reports whether a source path names objects in a bucket.
func IsS3(p string) bool { return strings.HasPrefix(p, "s3://") }

// S3 lists and reads objects of S3 or an S3-compatible store. Credentials
// and region come from the standard AWS environment variables and shared
// config (profiles).
type S3 struct {
	client *s3.Client
	opt    S3Options
	mu     sync.Mutex
	meta   map[string]objectMeta // what the last listing said of each object
}

// S3Options configure an S3 client.
type S3Options struct {
	// Endpoint is an S3-compatible store to use instead of AWS (path-style).
	Endpoint string
	// Retries is how many times a read that breaks mid-object is resumed
	// (from where it broke) before the file fails; 0 means 5.
	Retries int
	// Backoff is the wait before the first resumption, doubling after
	// each; 0 means 200ms.
	Backoff time.Duration
}

// objectMeta is what a listing says of an object.
type objectMeta struct {
	etag string
	size int64
}

// NewS3 builds a client from the standard AWS configuration and opt.
func NewS3(ctx context.Context, opt S3Options) (*S3, error) {
	if opt.Retries < 0 || opt.Backoff < 0 {
		return nil, fmt.Errorf("s3: retries and backoff cannot be negative")
	}
	if opt.Retries == 0 {
		opt.Retries = 5
	}
	if opt.Backoff == 0 {
		opt.Backoff = 200 * time.Millisecond
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if opt.Endpoint != "" {
			o.BaseEndpoint = aws.String(opt.Endpoint)
			o.UsePathStyle = true
		}
		// Ranged reads (resumed downloads) carry no whole-object checksum.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	return &S3{client: client, opt: opt, meta: map[string]objectMeta{}}, nil
}

// splitURL splits s3://bucket/key into bucket and key.
func splitURL(u string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(u, "s3://")
	bucket, key, _ = strings.Cut(rest, "/")
	if !ok || bucket == "" {
		return "", "", fmt.Errorf("%q is not an s3://bucket/key address", u)
	}
	return bucket, key, nil
}

// Glob lists the objects matching an s3://bucket/prefix/*.csv pattern
// (path.Match syntax on the key), page by page, sorted by key.
func (s *S3) Glob(ctx context.Context, pattern string) ([]string, error) {
	bucket, keyPattern, err := splitURL(pattern)
	if err != nil {
		return nil, err
	}
	prefix := keyPattern
	if i := strings.IndexAny(prefix, "*?["); i >= 0 {
		prefix = prefix[:i]
	}
	var out []string
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", pattern, err)
		}
		for _, o := range page.Contents {
			if ok, _ := path.Match(keyPattern, *o.Key); ok {
				u := "s3://" + bucket + "/" + *o.Key
				out = append(out, u)
				s.mu.Lock()
				s.meta[u] = objectMeta{etag: aws.ToString(o.ETag), size: aws.ToInt64(o.Size)}
				s.mu.Unlock()
			}
		}
	}
	return out, nil
}

// listed returns what the last listing said of an object.
func (s *S3) listed(u string) (objectMeta, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.meta[u]
	return m, ok && m.etag != ""
}

// Open streams an object, the version its listing saw when it was listed.
// A read that breaks mid-object is resumed from the byte it stopped at, up
// to Retries times with a doubling back-off.
func (s *S3) Open(ctx context.Context, u string) (io.ReadCloser, error) {
	bucket, key, err := splitURL(u)
	if err != nil {
		return nil, err
	}
	r := &resumingReader{ctx: ctx, s: s, bucket: bucket, key: key, url: u}
	if m, ok := s.listed(u); ok {
		// The version the listing saw, and no other: the read that hashes
		// an object and the read that loads it see the same bytes, or the
		// second fails (412) and the file with it, to load next run.
		r.etag = m.etag
	}
	if err := r.get(); err != nil {
		return nil, err
	}
	return r, nil
}

type resumingReader struct {
	ctx         context.Context
	s           *S3
	bucket, key string
	url         string
	body        io.ReadCloser
	off         int64
	etag        string
	resumed     int
}

func (r *resumingReader) get() error {
	in := &s3.GetObjectInput{Bucket: &r.bucket, Key: &r.key}
	if r.off > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", r.off))
	}
	if r.etag != "" {
		// The object must not change between the pieces.
		in.IfMatch = aws.String(r.etag)
	}
	out, err := r.s.client.GetObject(r.ctx, in)
	if err != nil {
		return fmt.Errorf("get %s: %w", r.url, err)
	}
	if r.off == 0 && out.ETag != nil {
		r.etag = *out.ETag
	}
	r.body = out.Body
	return nil
}

func (r *resumingReader) Read(p []byte) (int, error) {
	for {
		n, err := r.body.Read(p)
		r.off += int64(n)
		if err == nil || errors.Is(err, io.EOF) || n > 0 {
			if err != nil && !errors.Is(err, io.EOF) {
				// Hand back what arrived; the next Read resumes.
				err = nil
				r.body.Close()
				r.body = brokenBody{}
			}
			return n, err
		}
		if r.ctx.Err() != nil {
			return 0, r.ctx.Err()
		}
		if r.resumed >= r.s.opt.Retries {
			return 0, fmt.Errorf("read %s: broke at byte %d %d times, giving up: %w", r.url, r.off, r.resumed+1, err)
		}
		wait := r.s.opt.Backoff << r.resumed
		r.resumed++
		r.body.Close()
		select {
		case <-time.After(wait):
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
		if gerr := r.get(); gerr != nil {
			if r.resumed >= r.s.opt.Retries {
				return 0, fmt.Errorf("read %s: resume at byte %d: %w", r.url, r.off, gerr)
			}
			r.body = brokenBody{gerr}
		}
	}
}

func (r *resumingReader) Close() error { return r.body.Close() }

// brokenBody stands for a stream that broke: reading it fails, so that the
// next Read resumes.
type brokenBody struct{ err error }

func (b brokenBody) Read([]byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	return 0, io.ErrUnexpectedEOF
}

func (brokenBody) Close() error { return nil }
