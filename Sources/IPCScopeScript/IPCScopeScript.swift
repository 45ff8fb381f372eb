/// Scripted replies for the mock server.
public enum IPCScopeScript {}
