"""`./run.sh demo`: source-commercetools | destination-crmone as two processes over a pipe.

Modules: `sandboxes` (start, seed, mutate and stop the two sandbox servers as subprocesses),
`pipeline` (discover, configs, one sync: the two connector processes and the pipe between
them), `summary` (the readable report), `__main__` (the command line).
"""
