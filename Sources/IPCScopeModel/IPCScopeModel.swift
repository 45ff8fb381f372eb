/// The inspector model: read-only snapshots of a section, hex dumps, history, the screen grid.
public enum IPCScopeModel {}
