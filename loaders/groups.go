package loaders

// groups sorts small files (indexes into the load's paths, in the order
// they are to load) into groups of up to groupBytes and groupFiles.
func (ld *loading) groups(small []int) []unit {
	var units []unit
	var group []int
	var size int64
	for _, i := range small {
		if len(group) == groupFiles || size+ld.infos[i].Size > groupBytes {
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
