package loaders

import (
	"fmt"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// record is how path is recorded: relative to the root, and UTF-8 as the
// manifest's text must be (see PathText).
func (l *CSV) record(path string) string {
	return PathText(RelPath(l.opt.Root, path))
}

// PathText is a file name as the manifest records it, in UTF-8 text: as it
// is when it is UTF-8 without U+FFFD; else with each byte that is not
// UTF-8 written as U+FFFD and its two hex digits, and each U+FFFD of the
// name doubled. Two names never share a record (replacing each other's
// rows), and a record reads back to its name's bytes.
func PathText(name string) string {
	if utf8.ValidString(name) && !strings.ContainsRune(name, utf8.RuneError) {
		return name
	}
	var b strings.Builder
	for i := 0; i < len(name); {
		r, n := utf8.DecodeRuneInString(name[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, "\uFFFD%02x", name[i])
		case r == utf8.RuneError:
			b.WriteString("\uFFFD\uFFFD")
		default:
			b.WriteString(name[i : i+n])
		}
		i += n
	}
	return b.String()
}

// RelPath shows path relative to root when it is inside it, else as given:
// how files are recorded in the manifest and shown to people.
func RelPath(root, path string) string {
	if root == "" {
		return path
	}
	// Clean absolute paths, as listings give them, without Rel's work: a
	// night's run shows every file of the history.
	sep := string(filepath.Separator)
	if filepath.IsAbs(path) && filepath.IsAbs(root) && root != sep && filepath.Clean(path) == path && filepath.Clean(root) == root {
		switch rest, under := strings.CutPrefix(path, root); {
		case !under || rest != "" && !strings.HasPrefix(rest, sep):
			return path // outside root
		case rest != "":
			return rest[1:]
		}
	}
	if rel, err := filepath.Rel(root, path); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+sep) {
		return rel
	}
	return path
}
