/// The curses front of `ipcscope attach`.
public enum IPCScopeTUI {}
