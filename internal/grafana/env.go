package grafana

import (
	"path"
	"regexp"
	"strings"
)

// EnvOut is where the dashboards of an environment are rendered: a
// folder of its own, which Grafana's provisioning reads with the rest and
// lineage (grafana/dashboards/*.json) does not.
const EnvOut = DashboardsOut + "/env"

// ForEnv returns the dashboards reading environment env instead of live:
// every relation of the schemas named (the models' schemas) read in a
// panel's or a variable's SQL, and the data link's table, is its
// environment's (marts.x → marts__env.x); each has a uid and title of its
// own, so both open side by side. The SQL holds Grafana's macros, which no
// SQL parser reads: names are replaced where they stand as schema.relation.
func (p *Provisioning) ForEnv(schemas []string, env string) *Provisioning {
	quoted := make([]string, len(schemas))
	for i, s := range schemas {
		quoted[i] = regexp.QuoteMeta(s)
	}
	re := regexp.MustCompile(`(^|[^A-Za-z0-9_."])(` + strings.Join(quoted, "|") + `)\.([A-Za-z_])`)
	rewrite := func(sql string) string { return re.ReplaceAllString(sql, "${1}${2}__"+env+".${3}") }
	out := &Provisioning{}
	for _, d := range p.Dashboards {
		e := *d
		e.UID = d.UID + "-" + env
		e.Title = d.Title + " [" + env + "]"
		e.File = strings.TrimSuffix(d.File, ".json") + "__" + env + ".json"
		e.Panels = make([]Panel, len(d.Panels))
		for i, pn := range d.Panels {
			pn.SQL = rewrite(pn.SQL)
			e.Panels[i] = pn
		}
		e.Variables = make([]Variable, len(d.Variables))
		for i, v := range d.Variables {
			v.SQL = rewrite(v.SQL)
			e.Variables[i] = v
		}
		if d.DataLink != nil {
			l := *d.DataLink
			l.Table = rewrite(l.Table)
			e.DataLink = &l
		}
		out.Dashboards = append(out.Dashboards, &e)
	}
	return out
}

// EnvFiles renders the dashboards of ForEnv into EnvOut.
func (p *Provisioning) EnvFiles(schemas []string, env string) ([]File, error) {
	var out []File
	for _, d := range p.ForEnv(schemas, env).Dashboards {
		b, err := d.JSON()
		if err != nil {
			return nil, err
		}
		out = append(out, File{Path: path.Join(EnvOut, d.File), Data: append(b, '\n')})
	}
	return out, nil
}
