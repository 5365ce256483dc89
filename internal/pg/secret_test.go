package pg

import (
	"strings"
	"testing"
)

func TestRedactAndSplitPassword(t *testing.T) {
	tests := []struct {
		conn, redacted, split, pw string
	}{
		{"postgres://percolate:s3cr%2Ft@127.0.0.1:5432/percolate?sslmode=disable",
			"postgres://percolate:xxxxx@127.0.0.1:5432/percolate?sslmode=disable",
			"postgres://percolate@127.0.0.1:5432/percolate?sslmode=disable", "s3cr/t"},
		{"postgresql://u@h/db?password=s3cret&sslmode=require",
			"postgresql://u@h/db?password=xxxxx&sslmode=require",
			"postgresql://u@h/db?sslmode=require", "s3cret"},
		{"postgres://u@h/db", "postgres://u@h/db", "postgres://u@h/db", ""},
		{`host=h user=u password='it\'s a \\ b' dbname=d`, "host=h user=u password=xxxxx dbname=d",
			`host=h user=u password='it\'s a \\ b' dbname=d`, ""},
		{"host=h password = plain dbname=d", "host=h password = xxxxx dbname=d", "host=h password = plain dbname=d", ""},
	}
	for _, tt := range tests {
		t.Run(tt.conn, func(t *testing.T) {
			if got := Redact(tt.conn); got != tt.redacted {
				t.Errorf("Redact: got %q, want %q", got, tt.redacted)
			}
			got, pw := SplitPassword(tt.conn)
			if got != tt.split || pw != tt.pw {
				t.Errorf("SplitPassword: got %q, %q, want %q, %q", got, pw, tt.split, tt.pw)
			}
		})
	}
}

func TestScramVerifier(t *testing.T) {
	v, err := ScramVerifier("reader pw")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v, "SCRAM-SHA-256$4096:") || strings.Contains(v, "reader pw") {
		t.Fatalf("got %q, want a SCRAM-SHA-256 verifier of 4096 iterations", v)
	}
	for _, tt := range []struct {
		verifier, pw string
		want         bool
	}{
		{v, "reader pw", true},
		{v, "reader pW", false},
		{"md5" + strings.Repeat("0", 32), "reader pw", false},
		{"SCRAM-SHA-256$x:AAAA$a:b", "reader pw", false},
	} {
		if got := ScramMatches(tt.verifier, tt.pw); got != tt.want {
			t.Errorf("ScramMatches(%q, %q): got %v, want %v", tt.verifier, tt.pw, got, tt.want)
		}
	}
}
