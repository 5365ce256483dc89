package loaders

import (
	"time"
)

// wallLayout is a strftime layout of fixed-width numbers and literals
// (%d/%m/%Y %H:%M and the like), read without time.Parse: a timestamp is
// read on every row, and time.Parse interprets its layout every time.
type wallLayout struct {
	text   string // the layout, for its literals
	fields []wallField
	size   int
}

type wallField struct {
	at, width int
	unit      byte // d m Y y H M S
}

// compileWall compiles a strftime layout of %d %m %Y %y %H %M %S and
// literals; ok is false for any other layout (time.Parse reads those).
func compileWall(layout string) (wallLayout, bool) {
	w := wallLayout{}
	var lit []byte
	for i := 0; i < len(layout); i++ {
		if layout[i] != '%' {
			lit = append(lit, layout[i])
			continue
		}
		if i+1 == len(layout) {
			return w, false
		}
		i++
		width := 2
		switch layout[i] {
		case 'Y':
			width = 4
		case 'd', 'm', 'y', 'H', 'M', 'S':
		default:
			return w, false
		}
		w.fields = append(w.fields, wallField{at: len(lit), width: width, unit: layout[i]})
		for range width {
			lit = append(lit, '0') // a digit's place; digits are checked apart
		}
	}
	w.text, w.size = string(lit), len(lit)
	return w, true
}

// parse reads s as the layout's wall-clock time, in microseconds since the
// Unix epoch as if it were UTC.
func (w *wallLayout) parse(s string) (int64, bool) {
	if len(s) != w.size {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if n < len(w.fields) && i == w.fields[n].at {
			i += w.fields[n].width - 1
			n++
			continue
		}
		if s[i] != w.text[i] {
			return 0, false
		}
	}
	year, month, day, hour, min, sec := 1970, 1, 1, 0, 0, 0
	for _, f := range w.fields {
		v := 0
		for _, c := range []byte(s[f.at : f.at+f.width]) {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		switch f.unit {
		case 'd':
			day = v
		case 'm':
			month = v
		case 'Y':
			year = v
		case 'y':
			year = 2000 + v
			if v >= 69 { // as time.Parse reads %y
				year = 1900 + v
			}
		case 'H':
			hour = v
		case 'M':
			min = v
		case 'S':
			sec = v
		}
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || min > 59 || sec > 59 {
		return 0, false
	}
	days := daysFromCivil(year, month, day)
	return ((days*24+int64(hour))*60+int64(min))*60e6 + int64(sec)*1e6, true
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil is the number of days from 1970-01-01 to the date
// (Howard Hinnant's algorithm, proleptic Gregorian).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// zoneCache is the offset from UTC of a location's wall clock, remembered
// per hour of wall-clock time: rows of a file come in time order, so one
// lookup serves an hour of them. Offsets change on whole hours or half
// hours only where this cache keys by the half hour.
type zoneCache struct {
	loc  *time.Location
	key  int64 // the wall-clock half hour, since the epoch
	diff int64 // instant minus wall clock, µs
	ok   bool
}

const halfHour = 30 * 60e6

// instant is the moment, in µs since the epoch, when the location's clocks
// show wall (µs since the epoch read as UTC). A wall time that does not
// exist or occurs twice resolves as time.Date does.
func (z *zoneCache) instant(wall int64) int64 {
	key := floorDiv(wall, halfHour)
	if !z.ok || key != z.key {
		w := time.UnixMicro(key * halfHour).UTC()
		at := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), 0, 0, z.loc)
		z.key, z.diff, z.ok = key, at.UnixMicro()-key*halfHour, true
	}
	return wall + z.diff
}
