"""Custom code: scripts (JavaScript in V8, Python in a bubblewrap sandbox), stacks, one-time
tokens, and the runner that ties them to the flow engine's hook call points."""
