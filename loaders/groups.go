package loaders

import (
	"cmp"
	"slices"
	"strings"
)

// groups sorts small files (indexes into the load's paths, in the order
// they are to load) into groups of up to groupBytes and groupFiles.
//
// Where the file's name says the value of the source's distribution
// column (its distributed_by column has a file_name rule), the files are
// ordered by that value first, keeping their order within it, and a group
// at least half full ends where the value changes: on a distributed
// engine a group's COPY then goes to one shard, where a group of files in
// their days' order held every value and wrote to every shard. A value
// with fewer files shares its group with the next, so that there are
// hardly more groups than the sizes ask for (a night's one file per
// value is still one group). On one server the order changes only where
// a day's rows sit: in one run of pages per value, days in order within
// it, so the staging tables' BRIN indexes on the day still narrow a day's
// reads to a few ranges of pages (one per value), where it was one.
func (ld *loading) groups(small []int) []unit {
	values := ld.distributionValues(small)
	if values != nil {
		slices.SortStableFunc(small, func(a, b int) int { return strings.Compare(values[a], values[b]) })
	}
	most := cmp.Or(ld.test.groupFiles, groupFiles)
	var units []unit
	var group []int
	var size int64
	for _, i := range small {
		full := len(group) == most || size+ld.infos[i].Size > groupBytes
		turn := values != nil && len(group) > 0 && values[i] != values[group[len(group)-1]] &&
			(2*size >= groupBytes || 2*len(group) >= most)
		if full || turn {
			units = append(units, unit{files: group})
			group, size = nil, 0
		}
		group = append(group, i)
		size += ld.infos[i].Size
	}
	if len(group) > 0 {
		units = append(units, unit{files: group})
	}
	return units
}

// distributionValues is what the names of the files say of the source's
// distribution column, by path index; nil when they say nothing of it.
func (ld *loading) distributionValues(files []int) map[int]string {
	if ld.src.DistributedBy == "" {
		return nil
	}
	for _, col := range ld.src.Columns {
		if col.Name != ld.src.DistributedBy || col.FileNameRe == nil {
			continue
		}
		values := make(map[int]string, len(files))
		for _, i := range files {
			values[i] = nameSays(col, ld.paths[i])
		}
		return values
	}
	return nil
}
