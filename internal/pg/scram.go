package pg

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// scramIterations is PostgreSQL's default scram_iterations.
const scramIterations = 4096

// ScramVerifier is the SCRAM-SHA-256 verifier of password (RFC 5802 and
// 7677) in the form pg_authid stores, with a fresh random salt. Given to
// ALTER ROLE … PASSWORD, the server stores it as it is: the password
// itself never reaches the server, nor its log.
func ScramVerifier(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	return scramVerifier(password, salt, scramIterations)
}

func scramVerifier(password string, salt []byte, iter int) (string, error) {
	// The password goes through SASLprep first; for the ASCII passwords
	// a person types it changes nothing, and PostgreSQL, like here, uses
	// the raw bytes when SASLprep fails.
	salted, err := pbkdf2.Key(sha256.New, password, salt, iter, sha256.Size)
	if err != nil {
		return "", err
	}
	client := mac(salted, "Client Key")
	stored := sha256.Sum256(client)
	server := mac(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iter, b64(salt), b64(stored[:]), b64(server)), nil
}

func mac(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

// ScramMatches says whether verifier, as pg_authid holds it, is one of
// password: the same salt and iterations give the same keys.
func ScramMatches(verifier, password string) bool {
	rest, ok := strings.CutPrefix(verifier, "SCRAM-SHA-256$")
	if !ok {
		return false
	}
	params, _, ok := strings.Cut(rest, "$")
	if !ok {
		return false
	}
	iters, salt64, ok := strings.Cut(params, ":")
	if !ok {
		return false
	}
	iter, err := strconv.Atoi(iters)
	if err != nil || iter < 1 {
		return false
	}
	salt, err := base64.StdEncoding.DecodeString(salt64)
	if err != nil {
		return false
	}
	got, err := scramVerifier(password, salt, iter)
	return err == nil && subtle.ConstantTimeCompare([]byte(got), []byte(verifier)) == 1
}
