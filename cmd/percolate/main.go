// Command percolate loads raw files into PostgreSQL and builds SQL models
// on them. See 'percolate --help' and the README.
package main

import (
	"os"

	"github.com/percolate/percolate/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
