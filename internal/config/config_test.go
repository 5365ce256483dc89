package config

import (
	"errors"
	"strings"
	"testing"
)

func TestLoadProjectFile(t *testing.T) {
	f, err := Load("../../pipelines.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.Pipeline("")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(p.SourceNames(), ","), "legacy_transactions,transactions"; got != want {
		t.Errorf("sources: got %s, want %s", got, want)
	}
	for _, s := range p.Sources {
		if s.Location.String() != "Europe/London" {
			t.Errorf("%s: time zone %s, want Europe/London", s.Name, s.Location)
		}
		var dropped []string
		for _, c := range s.Columns {
			if c.Personal == Drop {
				dropped = append(dropped, c.Name)
			}
		}
		if len(dropped) != 2 {
			t.Errorf("%s: personal columns %v, want the customer name and the card", s.Name, dropped)
		}
	}
}

const valid = `version: 1
pipelines:
  cafe:
    models: models
    sources:
      tx:
        path: in/*.csv
        table: staging.tx
        key: {column: id, from: [at]}
        columns:
          - name: at
            type: timestamp
            layouts: ["%d/%m/%Y %H:%M"]
          - name: total
            type: numeric
            scale: 2
`

// basket is an items column to add to valid.
const basket = `          - name: basket
            type: items
            items:
              table: staging.tx_items
              separator: ","
              format: "{product} - {price}"
              fields: [product, {name: price, type: numeric, scale: 2}]`

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"misspelt key", strings.Replace(valid, "        table:", "        tabel:", 1), `pipelines.yaml:8: unknown key "tabel" in source`},
		{"misspelt column key", strings.Replace(valid, "scale: 2", "scael: 2", 1), `pipelines.yaml:16: unknown key "scael" in column`},
		{"no version", strings.Replace(valid, "version: 1\n", "", 1), "version must be 1"},
		{"bad type", strings.Replace(valid, "type: numeric", "type: money", 1), `pipelines.yaml:15: source tx: column total: type "money" is not one of`},
		{"bad layout", strings.Replace(valid, "%d/%m/%Y", "%d/%q/%Y", 1), `pipelines.yaml:13: source tx: column at: layout "%d/%q/%Y %H:%M": %q is not supported`},
		{"bad time zone", strings.Replace(valid, "table: staging.tx", "table: staging.tx\n        time_zone: Europe/Londres", 1), `pipelines.yaml:9: source tx: time_zone "Europe/Londres"`},
		{"key of unknown column", strings.Replace(valid, "from: [at]", "from: [at, branch]", 1), `pipelines.yaml:9: source tx: key: from names "branch"`},
		{"unqualified table", strings.Replace(valid, "table: staging.tx", "table: tx", 1), `pipelines.yaml:8: source tx: table must be a schema-qualified`},
		{"bad max_rejects", strings.Replace(valid, "table: staging.tx", "table: staging.tx\n        max_rejects: lots", 1), `pipelines.yaml:9: max_rejects must be a count`},
		{"bad header", strings.Replace(valid, "table: staging.tx", "table: staging.tx\n        header: maybe", 1), `pipelines.yaml:9: header must be true, false or auto`},
		{"unknown encoding", strings.Replace(valid, "table: staging.tx", "table: staging.tx\n        encoding: ebcdic", 1), `pipelines.yaml:9: source tx: encoding "ebcdic" is not one of utf-8, windows-1252, latin-1`},
		{"scale out of bounds", strings.Replace(valid, "scale: 2", "scale: 9", 1), `pipelines.yaml:16: source tx: column total: scale must be between 0 and 6`},
		{"pattern on a number", strings.Replace(valid, "scale: 2", "scale: 2\n            pattern: '^1'", 1), `pipelines.yaml:17: source tx: column total: pattern applies to text columns`},
		{"bad pattern", strings.Replace(valid, "scale: 2", "scale: 2\n          - name: branch\n            pattern: '(['", 1), `pipelines.yaml:18: source tx: column branch: pattern "(["`},
		{"distributed by a missing column", strings.Replace(valid, "table: staging.tx", "table: staging.tx\n        distributed_by: branch", 1), `pipelines.yaml:9: source tx: distributed_by: "branch" is not a column the source's table has`},
		{"row sums by a column that is not one", strings.Replace(valid, "table: staging.tx\n", "table: staging.tx\n        sums: {table: staging.tx_sums, by: [shop], count: n}\n", 1), "pipelines.yaml:9: source tx: sums: by names \"shop\", which is not a column"},
		{"row sums of a timestamp", strings.Replace(valid, "table: staging.tx\n", "table: staging.tx\n        sums: {table: staging.tx_sums, count: n, sum: [at]}\n", 1), "pipelines.yaml:9: source tx: sums: sum names \"at\", a timestamp column: sum numeric or integer columns"},
		{"row sums by the hour of no day", strings.Replace(valid, "table: staging.tx\n", "table: staging.tx\n        sums: {table: staging.tx_sums, hour: h, count: n}\n", 1), "pipelines.yaml:9: source tx: sums: hour needs a timestamp column that makes a day (date:)"},
		{"misspelt row sums key", strings.Replace(valid, "table: staging.tx\n", "table: staging.tx\n        sums: {table: staging.tx_sums, bye: [at], count: n}\n", 1), `pipelines.yaml:9: unknown key "bye" in sums`},
		{"row sums without a count", strings.Replace(valid, "table: staging.tx\n", "table: staging.tx\n        sums: {table: staging.tx_sums, sum: [total]}\n", 1), "pipelines.yaml:9: source tx: sums: count names the column of how many rows each sum has"},
		{"row sums into the source's table", strings.Replace(valid, "table: staging.tx\n", "table: staging.tx\n        sums: {table: staging.tx, count: n}\n", 1), "pipelines.yaml:9: source tx: sums: table must be a schema-qualified staging table of its own"},
		{"row sums counting repeats the key does not mark", strings.Replace(valid, "table: staging.tx\n", "table: staging.tx\n        sums: {table: staging.tx_sums, count: n, repeats: r}\n", 1), "pipelines.yaml:9: source tx: sums: repeats counts the rows the key marks repeated: set key: repeated first"},
		{"row sums counted into a column they sum", strings.Replace(valid, "table: staging.tx\n", "table: staging.tx\n        sums: {table: staging.tx_sums, count: total, sum: [total]}\n", 1), "pipelines.yaml:9: source tx: sums: \"total\" is a column of staging.tx_sums already"},
		{"row sums without the column the tables are distributed by", strings.Replace(strings.Replace(valid, "scale: 2\n", "scale: 2\n          - name: branch\n", 1), "table: staging.tx\n", "table: staging.tx\n        distributed_by: branch\n        sums: {table: staging.tx_sums, count: n}\n", 1), "pipelines.yaml:9: source tx: distributed_by: branch: its sums table staging.tx_sums must have it too: add it to the sums' by"},
		{"sums without their columns", strings.Replace(valid, "scale: 2\n", "scale: 2\n"+basket+"\n              sums: {table: staging.tx_sums}\n", 1), `pipelines.yaml:24: source tx: column basket: items: sums: name both columns`},
		{"sums into the items table", strings.Replace(valid, "scale: 2\n", "scale: 2\n"+basket+"\n              sums: {table: staging.tx_items, count: n, sum: s}\n", 1), `pipelines.yaml:24: source tx: column basket: items: sums: table must be a schema-qualified staging table of its own`},
		{"sums counted into a column they have", strings.Replace(valid, "scale: 2\n", "scale: 2\n"+basket+"\n              sums: {table: staging.tx_sums, count: product, sum: s}\n", 1), `pipelines.yaml:24: source tx: column basket: items: sums: "product" is a column of staging.tx_sums already`},
		{"items with a table and a column", strings.Replace(valid, "scale: 2\n", "scale: 2\n"+basket+"\n              column: items\n", 1), `pipelines.yaml:20: source tx: column basket: items: give either table (a staging table of one row per item) or column`},
		{"items with neither a table nor a column", strings.Replace(valid, "scale: 2\n", "scale: 2\n"+strings.Replace(basket, "              table: staging.tx_items\n", "", 1)+"\n", 1), `pipelines.yaml:20: source tx: column basket: items: give either table`},
		{"items in a column of a bad name", strings.Replace(valid, "scale: 2\n", "scale: 2\n"+strings.Replace(basket, "table: staging.tx_items", "column: Items", 1)+"\n", 1), `pipelines.yaml:20: source tx: column basket: items: column must be a plain lower-case column name, not "Items"`},
		{"items in a column of the contract", strings.Replace(valid, "scale: 2\n", "scale: 2\n"+strings.Replace(basket, "table: staging.tx_items", "column: total", 1)+"\n", 1), `source tx: column basket: items: "total" is a column of the contract already: name a new column`},
		{"items in the column of their count", strings.Replace(valid, "scale: 2\n", "scale: 2\n"+strings.Replace(basket, "table: staging.tx_items", "column: n\n              count: n", 1)+"\n", 1), `items: column and count name the same column "n"`},
		{"items' sums without the column the tables are distributed by", strings.Replace(strings.Replace(valid, "scale: 2\n", "scale: 2\n          - name: branch\n"+strings.Replace(basket, "table: staging.tx_items", "column: items", 1)+"\n              sums: {table: staging.tx_item_sums, count: n, sum: s}\n", 1), "table: staging.tx\n", "table: staging.tx\n        distributed_by: branch\n", 1), "source tx: distributed_by: branch: its items' sums table staging.tx_item_sums must have it too: add it to the sums' by"},
		{"item format naming an undeclared field", strings.Replace(valid, "scale: 2\n", "scale: 2\n"+strings.Replace(basket, "{product} - {price}", "{size} {product} - {price}", 1)+"\n", 1), `pipelines.yaml:20: source tx: column basket: items: format names {size}, which is not one of the fields`},
		{"item format leaving a field out", strings.Replace(valid, "scale: 2\n", "scale: 2\n"+strings.Replace(basket, "{product} - {price}", "{product}", 1)+"\n", 1), `pipelines.yaml:20: source tx: column basket: items: format "{product}" names 1 of the 2 fields`},
		{"items without fields", strings.Replace(valid, "scale: 2\n", "scale: 2\n"+strings.Replace(basket, "              fields: [product, {name: price, type: numeric, scale: 2}]", "", 1)+"\n", 1), `pipelines.yaml:20: source tx: column basket: items: fields are required`},
		{"item field of a bad type", strings.Replace(valid, "scale: 2\n", "scale: 2\n"+strings.Replace(basket, "type: numeric, scale: 2}", "type: money}", 1)+"\n", 1), `pipelines.yaml:23: source tx: column basket: items: field "price": type "money" is not one of text, numeric, integer`},
		{"optional number in an item", strings.Replace(valid, "scale: 2\n", "scale: 2\n"+strings.Replace(basket, "scale: 2}", "scale: 2, optional: true}", 1)+"\n", 1), `pipelines.yaml:23: source tx: column basket: items: field "price": optional, values and pattern apply to text fields`},
		{"misspelt item field key", strings.Replace(valid, "scale: 2\n", "scale: 2\n"+strings.Replace(basket, "type: numeric", "tpye: numeric", 1)+"\n", 1), `pipelines.yaml:23: unknown key "tpye" in an item's field`},
		{"item sums by what is not there", strings.Replace(valid, "scale: 2\n", "scale: 2\n"+basket+"\n              sums: {table: staging.tx_sums, by: [product, shop], count: n, sum: s}\n", 1), `pipelines.yaml:24: source tx: column basket: items: sums: by names "shop", which is neither a field of the item nor a column`},
		{"item sums of a text field", strings.Replace(valid, "scale: 2\n", "scale: 2\n"+basket+"\n              sums: {table: staging.tx_sums, count: n, sum: s, of: product}\n", 1), `pipelines.yaml:24: source tx: column basket: items: sums: of: "product" is not a numeric or integer field of the item (price)`},
		{"sum_of of another scale", strings.Replace(valid, "scale: 2\n", "scale: 2\n            sum_of: basket\n"+strings.Replace(basket, "type: numeric, scale: 2}", "type: numeric, scale: 3}", 1)+"\n", 1), `pipelines.yaml:14: source tx: column total: sum_of: basket.price has 3 decimals, total 2: they must agree`},
		{"sum_of a field that is not one", strings.Replace(valid, "scale: 2\n", "scale: 2\n            sum_of: basket.cost\n"+basket+"\n", 1), `pipelines.yaml:14: source tx: column total: sum_of: "cost" is not a numeric or integer field of the item (price)`},
		{"items' sizes of earlier releases", strings.Replace(valid, "scale: 2\n", "scale: 2\n"+basket+"\n              sizes: [S, L]\n", 1), `pipelines.yaml:24: unknown key "sizes" in items: an item's fields are declared in fields now`},
		{"file_name without a group", strings.Replace(valid, "scale: 2", "scale: 2\n          - name: branch\n            file_name: '^[a-z]+_'", 1), `pipelines.yaml:18: source tx: column branch: file_name must be a regular expression with one group`},
		{"file_name on a number", strings.Replace(valid, "scale: 2", "scale: 2\n            file_name: '^([a-z]+)_'", 1), `pipelines.yaml:17: source tx: column total: file_name applies to text columns that are not personal`},
		{"file_name on personal data", strings.Replace(valid, "scale: 2", "scale: 2\n          - name: who\n            personal: drop\n            file_name: '^([a-z]+)_'", 1), `pipelines.yaml:19: source tx: column who: file_name applies to text columns`},
		{"negative max_line_bytes", strings.Replace(valid, "table: staging.tx", "table: staging.tx\n        max_line_bytes: -1", 1), `pipelines.yaml:9: source tx: max_line_bytes must be a positive number of bytes`},
		{"max_line_bytes in words", strings.Replace(valid, "table: staging.tx", "table: staging.tx\n        max_line_bytes: 4MiB", 1), `pipelines.yaml:9:`},
		{"field longer than a line", strings.Replace(valid, "table: staging.tx", "table: staging.tx\n        max_field_bytes: 2000\n        max_line_bytes: 1000", 1), `pipelines.yaml:9: source tx: max_field_bytes (2000) is more than max_line_bytes (1000)`},
		{"reason too short", strings.Replace(valid, "table: staging.tx", "table: staging.tx\n        max_reason_bytes: 10", 1), `pipelines.yaml:9: source tx: max_reason_bytes must be at least 64`},
		{"misspelt max_line_bytes", strings.Replace(valid, "table: staging.tx", "table: staging.tx\n        max_lines_bytes: 10", 1), `pipelines.yaml:9: unknown key "max_lines_bytes" in source`},
		{"null_values on personal data", strings.Replace(valid, "scale: 2", "scale: 2\n          - name: who\n            personal: drop\n            null_values: [NA]", 1), `pipelines.yaml:19: source tx: column who: null_values applies to columns that may be left empty, not this one: a personal column`},
		{"optional day", strings.Replace(valid, `layouts: ["%d/%m/%Y %H:%M"]`, "layouts: [\"%d/%m/%Y %H:%M\"]\n            date: day\n            optional: true", 1), `pipelines.yaml:15: source tx: column at: optional applies to columns that may be left empty, not this one: it gives each row its day (day)`},
		{"optional items", strings.Replace(valid, "scale: 2\n", "scale: 2\n"+strings.Replace(basket, "type: items", "type: items\n            null_values: [none]", 1)+"\n", 1), `pipelines.yaml:19: source tx: column basket: null_values applies to columns that may be left empty, not this one: an items column holds a list`},
		{"null_values not a list", strings.Replace(valid, "scale: 2", "scale: 2\n            null_values: NA", 1), `pipelines.yaml:17:`},
		{"distributed by an optional column", strings.Replace(valid, "table: staging.tx", "table: staging.tx\n        distributed_by: shop", 1) + "          - {name: shop, optional: true}\n", `pipelines.yaml:9: source tx: distributed_by: "shop" is optional`},
		{"immutable neither true nor false", strings.Replace(valid, "table: staging.tx", "table: staging.tx\n        immutable: maybe", 1), `pipelines.yaml:9: source tx: immutable: want true or false, got "maybe"`},
		{"optional a number", strings.Replace(valid, "scale: 2", "scale: 2\n            optional: 2", 1), `pipelines.yaml:17: source tx: column total: optional: want true or false, got "2"`},
		{"not yaml", "version: [1\n", "pipelines.yaml:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("pipelines.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("got no error, want %q", tt.want)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Errorf("got %T, want *config.Error", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	tests := []struct {
		name, add string
		want      Limits
	}{
		{"defaults", "", Limits{Field: 1 << 20, Line: 4 << 20, Reason: 512}},
		{"declared", "\n        max_field_bytes: 100\n        max_line_bytes: 200\n        max_reason_bytes: 300", Limits{Field: 100, Line: 200, Reason: 300}},
		{"a line only", "\n        max_line_bytes: 2097152", Limits{Field: 1 << 20, Line: 2 << 20, Reason: 512}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("pipelines.yaml", []byte(strings.Replace(valid, "table: staging.tx", "table: staging.tx"+tt.add, 1)))
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Pipelines["cafe"].Sources["tx"].Limits(); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestMaxRejects(t *testing.T) {
	tests := []struct {
		yaml            string
		rejected, total int64
		want            bool
	}{
		{"max_rejects: 2", 2, 10, true},
		{"max_rejects: 2", 3, 10, false},
		{`max_rejects: "10%"`, 1, 10, true},
		{`max_rejects: "10%"`, 2, 10, false},
		{"max_rejects: 0.5", 5, 10, true},
		{"max_rejects: 0.5", 6, 10, false},
		{"", 0, 10, true},
		{"", 1, 10, false},
	}
	for _, tt := range tests {
		t.Run(tt.yaml, func(t *testing.T) {
			y := strings.Replace(valid, "table: staging.tx", "table: staging.tx\n        "+tt.yaml, 1)
			f, err := Parse("p.yaml", []byte(y))
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Pipelines["cafe"].Sources["tx"].MaxRejects.Allows(tt.rejected, tt.total); got != tt.want {
				t.Errorf("Allows(%d, %d) = %v, want %v", tt.rejected, tt.total, got, tt.want)
			}
		})
	}
}
