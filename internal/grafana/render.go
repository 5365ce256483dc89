package grafana

import (
	"fmt"
	"path"
)

// File is a provisioning file to write: its path in the project folder
// and its content.
type File struct {
	Path string
	Data []byte
}

// Files renders every declared dashboard, and the alert rules when the
// project declares them.
func (p *Provisioning) Files() ([]File, error) {
	var out []File
	for _, d := range p.Dashboards {
		b, err := d.JSON()
		if err != nil {
			return nil, fmt.Errorf("render %s: %w", d.Path, err)
		}
		out = append(out, File{Path: path.Join(DashboardsOut, d.File), Data: append(b, '\n')})
	}
	if p.Rules != nil {
		b, err := AlertsYAML(p.Rules)
		if err != nil {
			return nil, fmt.Errorf("render %s: %w", AlertsDecl, err)
		}
		out = append(out, File{Path: AlertsOut, Data: b})
	}
	return out, nil
}
