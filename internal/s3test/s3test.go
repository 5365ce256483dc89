// Package s3test starts a real S3-compatible server for tests: versitygw,
// with its posix backend in a temporary folder, on 127.0.0.1. Nothing is
// mocked. The binary is found on PATH or in $GOPATH/bin, else installed
// from the Go module proxy (a few minutes, once).
package s3test

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/percolate/percolate/internal/pgtest"
)

// Version is the versitygw release the tests run against.
const Version = "v1.8.0"

// Server is a running versitygw.
type Server struct {
	Endpoint string // http://127.0.0.1:PORT
	Addr     string // 127.0.0.1:PORT
	// NoETags is set where the temporary folder has no extended attributes:
	// versitygw then keeps no metadata and lists objects without ETags.
	NoETags bool
}

const (
	access = "percolatetest"
	secret = "percolatetestsecret"
)

// Binary returns the path of versitygw, installing it when missing.
func Binary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		t.Fatalf("s3test: go env GOPATH: %v", err)
	}
	bin := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "versitygw")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	t.Logf("s3test: installing versitygw %s from the module proxy (once; a few minutes)", Version)
	if out, err := exec.Command("go", "install", "github.com/versity/versitygw/cmd/versitygw@"+Version).CombinedOutput(); err != nil {
		t.Fatalf("s3test: go install versitygw: %v\n%s", err, out)
	}
	return bin
}

// Start runs a versitygw for this test and points the AWS environment
// (credentials, region, $PERCOLATE_S3_ENDPOINT) at it.
func Start(t *testing.T) *Server {
	t.Helper()
	bin := Binary(t)
	root := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	args := []string{"--access", access, "--secret", secret, "--port", addr, "posix"}
	noETags := syscall.Setxattr(root, "user.percolate", []byte("1"), 0) != nil
	if noETags {
		args = append(args, "--nometa")
	}
	cmd := exec.Command(bin, append(args, root)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// A child of the test binary that dies with it, and is swept by the
	// next one if it did not.
	child, err := pgtest.StartChild(cmd, syscall.SIGKILL, root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { child.Stop() })
	pgtest.Eventually(t, 30*time.Second, "versitygw to listen on "+addr, func() bool {
		select {
		case <-child.Done():
			t.Fatalf("s3test: versitygw ended: %s", out.String())
		default:
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	s := &Server{Endpoint: "http://" + addr, Addr: addr, NoETags: noETags}
	s.Env(t, s.Endpoint)
	return s
}

// Env points the AWS environment at an endpoint (the server, or a proxy
// in front of it).
func (s *Server) Env(t *testing.T, endpoint string) {
	t.Setenv("AWS_ACCESS_KEY_ID", access)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("PERCOLATE_S3_ENDPOINT", endpoint) // loaders.EnvS3Endpoint
}

// Client is an S3 client of the server, for the test's own uploads.
func (s *Server) Client(t *testing.T) *s3.Client {
	t.Helper()
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: access, SecretAccessKey: secret}, nil
		}),
	})
}

// Bucket creates a bucket.
func (s *Server) Bucket(t *testing.T, name string) {
	t.Helper()
	if _, err := s.Client(t).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatalf("s3test: create bucket %s: %v", name, err)
	}
}

// Put uploads data as bucket/key.
func (s *Server) Put(t *testing.T, bucket, key string, data []byte) {
	t.Helper()
	if _, err := s.Client(t).PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(data)}); err != nil {
		t.Fatalf("s3test: put %s/%s: %v", bucket, key, err)
	}
}

// PutFiles uploads local files under prefix, keeping their names.
func (s *Server) PutFiles(t *testing.T, bucket, prefix string, paths []string) {
	t.Helper()
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		s.Put(t, bucket, prefix+filepath.Base(p), b)
	}
}
