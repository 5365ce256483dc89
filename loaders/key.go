package loaders

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/percolate/percolate/internal/ledger"
)

// ErrKeyMismatch is returned when a database was loaded with another key:
// the same orders would get other ids and be counted twice.
var ErrKeyMismatch = errors.New("the hash key differs from the one this database was loaded with")

// KeyFile returns the secret for row keys kept in file, creating the file
// with a new random key on first use.
func KeyFile(file string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err == nil {
		return []byte(strings.TrimSpace(string(b))), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read the hash key: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("make a hash key: %w", err)
	}
	k := hex.EncodeToString(raw)
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return nil, fmt.Errorf("make a hash key: %w", err)
	}
	// O_EXCL: if another process made the key meanwhile, use theirs.
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return KeyFile(file)
	}
	if err != nil {
		return nil, fmt.Errorf("make a hash key: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(k + "\n"); err != nil {
		return nil, fmt.Errorf("write the hash key: %w", err)
	}
	return []byte(k), nil
}

// CheckKey records a fingerprint of key in the ledger on first use and
// refuses a different key afterwards.
func CheckKey(ctx context.Context, q ledger.Querier, key []byte) error {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("percolate key check"))
	fp := hex.EncodeToString(m.Sum(nil)[:8])
	got, err := ledger.Store{}.KeyFingerprint(ctx, q, fp)
	if err != nil {
		return fmt.Errorf("check the hash key: %w", err)
	}
	if got != fp {
		return fmt.Errorf("%w (database has key %s, this machine has %s)", ErrKeyMismatch, got, fp)
	}
	return nil
}
