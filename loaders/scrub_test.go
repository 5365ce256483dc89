package loaders

import (
	"strings"
	"testing"
)

func TestScrub(t *testing.T) {
	tests := []struct {
		name, in string
		personal []string
		want     string
	}{
		{"a card number", "payment_method 4111111111111111 is wrong", nil, "payment_method *** is wrong"},
		{"a card number with spaces", "x 4111 1111 1111 1111 y", nil, "x *** y"},
		{"a card number with dashes", "x 4111-1111-1111-1111", nil, "x ***"},
		{"a 13-digit card", "4222222222222", nil, "***"},
		{"a 19-digit card", "6011000990139424009", nil, "***"},
		{"an Amex", "amex,378282246310005", nil, "amex,***"},
		{"two cards in a run", "4111111111111111 378282246310005", nil, "*** ***"},
		{"more than 19 digits", "order 99378282246310005", nil, "order 99378282246310005"},
		{"digits failing Luhn", "4111111111111112", nil, "4111111111111112"},
		{"too few digits", "411111111111", nil, "411111111111"},
		{"two separators are no card", "4111--1111-1111-1111", nil, "4111--1111-1111-1111"},
		{"a timestamp", "25/08/2021 09:06,2021-08-25 09:06:00", nil, "25/08/2021 09:06,2021-08-25 09:06:00"},
		{"an e-mail", "write to jane.doe+x@example.co.uk please", nil, "write to *** please"},
		{"no e-mail", "a @ b, size@ 2.45", nil, "a @ b, size@ 2.45"},
		{"a personal value anywhere", "Chesterfield,Jane Doe,Large Latte", []string{"Jane Doe"}, "Chesterfield,***,Large Latte"},
		{"a personal value twice", "Jane Doe and Jane Doe", []string{"Jane Doe"}, "*** and ***"},
		{"a very short personal value is masked by field only", "CASH,A", []string{"A"}, "CASH,A"},
		{"invalid UTF-8", "caf\xe9", nil, "caf\uFFFD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scrub(tt.in, tt.personal, 512); got != tt.want {
				t.Errorf("scrub(%q): got %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestScrubCuts(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		limit int
	}{
		{"ASCII", strings.Repeat("a", 10000), 100},
		{"multi-byte", strings.Repeat("é", 10000), 101},
		{"a card across the cut", strings.Repeat("a", 90) + "4111111111111111" + strings.Repeat("a", 100), 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := scrub(tt.in, nil, tt.limit)
			if len(got) > tt.limit {
				t.Errorf("got %d bytes, want at most %d", len(got), tt.limit)
			}
			if !strings.Contains(got, "bytes more)") {
				t.Errorf("got %q, want it to say how much it left out", got)
			}
			if strings.Contains(got, "4111") || strings.Contains(got, "\uFFFD") {
				t.Errorf("got %q: a piece of a card or of a character", got)
			}
		})
	}
}

func TestAppendWords(t *testing.T) {
	tests := []struct{ a, b string }{
		{"Isle of Wight", "isle_of_wight"},
		{"Isle of Wight", "isle-of-wight"},
		{"  St. Ives ", "st_ives"},
		{"Chesterfield", "CHESTERFIELD"},
	}
	for _, tt := range tests {
		if a, b := string(appendWords(nil, tt.a)), string(appendWords(nil, tt.b)); a != b {
			t.Errorf("%q as words is %q, %q is %q: want them equal", tt.a, a, tt.b, b)
		}
	}
	if a, b := string(appendWords(nil, "Jane Doe")), string(appendWords(nil, "chesterfield")); a == b {
		t.Errorf("%q and %q compare equal", "Jane Doe", "chesterfield")
	}
}
