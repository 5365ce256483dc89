package loaders

import "testing"

// BenchmarkItems reads, packs and keys a cafe basket of three items.
func BenchmarkItems(b *testing.B) {
	p, err := newItemParser(itemsOf(b, `{column: items, separator: ",", format: "{size} {product} - {price}", fields: `+cafeFields+`}`))
	if err != nil {
		b.Fatal(err)
	}
	var items []item
	var buf []byte
	for range b.N {
		items, err = p.parse("Regular Flavoured iced latte - Hazelnut - 2.75, Large Latte - 2.45, Glass of milk - 0.70", items[:0])
		if err != nil {
			b.Fatal(err)
		}
		buf = p.appendKey(p.appendText(buf[:0], items), items)
	}
}
