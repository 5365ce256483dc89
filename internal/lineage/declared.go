package lineage

// DeclaredPanel follows the columns a panel's SQL reads, for a panel
// known from its declaration (dashboards/*.yaml) rather than from a
// rendered dashboard's JSON: dashboard and title name it, file is where
// it is declared.
func (l *Graph) DeclaredPanel(dashboard, title, file, sql string) *Panel {
	return l.panel(dashboard, title, file, sql)
}
