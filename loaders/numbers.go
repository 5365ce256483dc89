package loaders

import (
	"fmt"
	"strconv"
	"strings"
)

var pow10 = [...]int64{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000, 10000000000}

// Numbers are exact 64-bit integers scaled by their decimals: 18 digits in
// all always fit.
const (
	maxDigits = 18
	maxExact  = 999_999_999_999_999_999
)

// parseDecimal reads an exact decimal ("5.2", "-0.75", "4") as an integer
// scaled by 10^scale; more decimals than the scale is an error, not a
// rounding, and so are more than digits digits before the point (the
// bound of the column it goes into).
func parseDecimal(s string, scale, digits int) (int64, error) {
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	ip, fp, _ := strings.Cut(s, ".")
	if ip == "" && fp == "" {
		return 0, fmt.Errorf("is not a number")
	}
	for _, part := range []string{ip, fp} {
		for i := 0; i < len(part); i++ {
			if part[i]-'0' > 9 {
				return 0, fmt.Errorf("is not a number")
			}
		}
	}
	if len(fp) > scale {
		return 0, fmt.Errorf("has more than %d decimals", scale)
	}
	ip = strings.TrimLeft(ip, "0")
	if len(ip) > digits {
		return 0, fmt.Errorf("is out of range: %d digits before the point, where its column takes at most %d", len(ip), digits)
	}
	var n int64
	for _, part := range []string{ip, fp} {
		for i := 0; i < len(part); i++ {
			n = n*10 + int64(part[i]-'0')
		}
	}
	n *= pow10[scale-len(fp)]
	if neg {
		n = -n
	}
	return n, nil
}

func appendDecimal(b []byte, n int64, scale int) []byte {
	if n < 0 {
		b = append(b, '-')
		n = -n
	}
	b = strconv.AppendInt(b, n/pow10[scale], 10)
	if scale > 0 {
		b = append(b, '.')
		frac := n % pow10[scale]
		for p := scale - 1; p >= 0; p-- {
			b = append(b, byte('0'+frac/pow10[p]%10))
		}
	}
	return b
}

// parseInteger reads a whole number, also as a decimal whose every digit
// after the point is 0 ("17850.0"): how files written through a
// spreadsheet or a dataframe often spell their ids.
func parseInteger(f string) (int64, error) {
	n, err := strconv.ParseInt(f, 10, 64)
	if err == nil {
		return n, nil
	}
	whole, frac, ok := strings.Cut(f, ".")
	if ok && frac != "" && strings.Trim(frac, "0") == "" {
		if n, err := strconv.ParseInt(whole, 10, 64); err == nil {
			return n, nil
		}
	}
	if ok && frac != "" && strings.Trim(frac, "0123456789") == "" {
		return 0, fmt.Errorf("is not a whole number: it has decimals other than 0")
	}
	return 0, fmt.Errorf("is not a whole number")
}
