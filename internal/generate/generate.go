// Package generate writes realistic cafe transaction files: one file per
// branch per day, named and laid out like the chain's real ones, with
// plausible fake personal data. The same options and seed always give the
// same bytes.
package generate

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Layouts of the cafe files.
const (
	LayoutA = "a" // 2021 onwards: dd/mm/yyyy HH:MM, "Size Product - price, …", total, method, card
	LayoutB = "b" // legacy: yyyy-mm-dd HH:MM:SS, "size,product,price,…", method, total, "provider,number"|None
)

// Options say what to write.
type Options struct {
	Dir      string
	Layout   string
	Branches []string
	From, To time.Time // days, inclusive
	// Orders is the mean number of orders per branch per day.
	Orders int
	Seed   uint64
}

// Stats is what was written.
type Stats struct {
	Files, Orders, Items int
	// Revenue is the sum of order totals in pence.
	Revenue int64
}

// Branches returns n branch names, the chain's real ones first.
func Branches(n int) []string {
	names := []string{"Chesterfield", "Isle of Wight", "Leeds", "Uppingham", "Longridge", "Birmingham",
		"London Camden", "Manchester", "Edinburgh", "Bristol", "Cardiff", "Norwich", "York", "Bath",
		"Brighton", "Oxford", "Cambridge", "Liverpool", "Glasgow", "Newcastle"}
	for i := len(names); i < n; i++ {
		names = append(names, fmt.Sprintf("Branch %d", i+1))
	}
	return names[:n]
}

type product struct {
	name           string
	regular, large int64 // pence; large 0: sold in one size only, no size written
}

var menu = []product{
	{"Latte", 215, 245}, {"Flat white", 215, 245}, {"Americano", 195, 225}, {"Cappuccino", 215, 245},
	{"Espresso", 150, 180}, {"Filter coffee", 150, 180}, {"Chai latte", 230, 260}, {"Mocha", 230, 260},
	{"Hot chocolate", 220, 290}, {"Luxury hot chocolate", 240, 270},
	{"Flavoured latte - Hazelnut", 255, 285}, {"Flavoured latte - Vanilla", 255, 285},
	{"Flavoured latte - Caramel", 255, 285}, {"Flavoured latte - Gingerbread", 255, 285},
	{"Flavoured iced latte - Hazelnut", 275, 325}, {"Flavoured iced latte - Vanilla", 275, 325},
	{"Flavoured iced latte - Caramel", 275, 325}, {"Flavoured hot chocolate - Caramel", 260, 290},
	{"Iced latte", 235, 0}, {"Iced americano", 215, 0}, {"Cortado", 205, 0}, {"Glass of milk", 70, 0},
	{"Babyccino", 0, 0}, {"Hot Chocolate", 140, 0}, {"Red Label tea", 120, 0},
	{"Speciality Tea - Earl Grey", 130, 0}, {"Speciality Tea - Camomile", 130, 0},
	{"Frappes - Coffee", 275, 0}, {"Frappes - Strawberries & Cream", 275, 0},
	{"Smoothies - Berry Beautiful", 200, 0}, {"Smoothies - Carrot Kick", 200, 0},
}

var (
	firstNames = []string{"Richard", "Scott", "Francis", "Morgan", "William", "Amber", "Olivia", "Amelia", "Isla", "Ava",
		"Noah", "Oliver", "George", "Arthur", "Muhammad", "Leo", "Harry", "Freya", "Priya", "Chen", "Siobhan", "Tomasz"}
	lastNames = []string{"Copeland", "Owens", "Strayhorn", "Berka", "Perdomo", "Roberts", "Smith", "Jones", "Taylor",
		"Brown", "Williams", "Wilson", "Patel", "Khan", "O'Neill", "Nowak", "Evans", "Thomas", "Wright", "Hughes"}
	providers = []string{"visa16", "mastercard", "amex", "discover", "maestro"}
)

// FileName is the name a branch's file for a day has in the layout.
func FileName(layout, branch string, day time.Time) string {
	slug := strings.ToLower(strings.ReplaceAll(branch, " ", "-"))
	if layout == LayoutB {
		return day.Format("2006-01-02") + "-" + slug + ".csv"
	}
	return strings.ReplaceAll(slug, "-", "_") + "_" + day.Format("02-01-2006") + "_09-00-00.csv"
}

// Write writes one file per branch per day into opt.Dir.
func Write(opt Options) (Stats, error) {
	var st Stats
	if err := os.MkdirAll(opt.Dir, 0o755); err != nil {
		return st, fmt.Errorf("generate: %w", err)
	}
	if opt.Orders <= 0 {
		opt.Orders = 300
	}
	for day := opt.From; !day.After(opt.To); day = day.AddDate(0, 0, 1) {
		for bi, branch := range opt.Branches {
			// Each file has its own stream, so files do not depend on which
			// others are written.
			rng := rand.New(rand.NewPCG(opt.Seed, uint64(day.Unix())*1000+uint64(bi)))
			fs, err := writeFile(opt, branch, bi, day, rng)
			if err != nil {
				return st, fmt.Errorf("generate: %w", err)
			}
			st.Files++
			st.Orders += fs.Orders
			st.Items += fs.Items
			st.Revenue += fs.Revenue
		}
	}
	return st, nil
}

func writeFile(opt Options, branch string, bi int, day time.Time, rng *rand.Rand) (Stats, error) {
	var st Stats
	path := filepath.Join(opt.Dir, FileName(opt.Layout, branch, day))
	f, err := os.Create(path)
	if err != nil {
		return st, err
	}
	w := bufio.NewWriterSize(f, 1<<16)
	// Branches differ in price (up to 20p) and opening hours.
	surcharge := int64(bi%5) * 5
	open, close := 8+bi%2, 17+bi%3
	n := opt.Orders*3/4 + rng.IntN(opt.Orders/2+1)
	minutes := (close - open) * 60
	line := make([]byte, 0, 512)
	for i := 0; i < n; i++ {
		secs := (open*60+i*minutes/n)*60 + rng.IntN(max(1, minutes*60/n))
		at := day.Add(time.Duration(secs) * time.Second)
		name := firstNames[rng.IntN(len(firstNames))] + " " + lastNames[rng.IntN(len(lastNames))]
		cash := rng.IntN(100) < 40
		var basket []string
		var total int64
		for k := 1 + rng.IntN(4); k > 0; k-- {
			p := menu[rng.IntN(len(menu))]
			size, price := "", p.regular
			if p.large > 0 {
				size = "Regular"
				if rng.IntN(2) == 0 {
					size, price = "Large", p.large
				}
			}
			if price > 0 {
				price += surcharge
			}
			total += price
			if opt.Layout == LayoutB {
				basket = append(basket, size+","+p.name+","+short(price))
			} else if size != "" {
				basket = append(basket, size+" "+p.name+" - "+short(price))
			} else {
				basket = append(basket, p.name+" - "+short(price))
			}
			st.Items++
		}
		card := ""
		method := "CASH"
		if !cash {
			method = "CARD"
			card = strconv.FormatInt(4000000000000000+rng.Int64N(5999999999999999), 10)
		}
		line = line[:0]
		if opt.Layout == LayoutB {
			cardField := "None"
			if !cash {
				cardField = `"` + providers[rng.IntN(len(providers))] + "," + card + `"`
			}
			line = fmt.Appendf(line, "%s,%s,%s,\"%s\",%s,%s,%s\n", at.Format("2006-01-02 15:04:05"), branch, name,
				strings.Join(basket, ","), method, cents(total), cardField)
		} else {
			line = fmt.Appendf(line, "%s,%s,%s,\"%s\",%s,%s,%s\n", at.Format("02/01/2006 15:04"), branch, name,
				strings.Join(basket, ", "), short(total), method, card)
		}
		if _, err := w.Write(line); err != nil {
			f.Close()
			return st, err
		}
		st.Orders++
		st.Revenue += total
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return st, err
	}
	return st, f.Close()
}

// short writes pence as the real files do: 5.2, 13.05, 4.0.
func short(p int64) string {
	return strings.TrimSuffix(cents(p), "0")
}

func cents(p int64) string {
	return fmt.Sprintf("%d.%02d", p/100, p%100)
}
