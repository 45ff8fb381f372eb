print("ipcscope-bench: not yet")
