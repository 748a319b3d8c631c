"""`python -m bench.peak_rss [--keep-stdout] CMD…`: run CMD, print its peak RSS in KiB.

Without `--keep-stdout`, CMD's stdout is discarded and the figure goes to stdout; with it, CMD's
stdout passes through and the figure goes to stderr. (Measured from this small process: a
child forked straight from a large benchmark process would count the parent's pages.)
"""

import resource
import subprocess
import sys

if __name__ == "__main__":
    keep = sys.argv[1] == "--keep-stdout"
    command = sys.argv[2:] if keep else sys.argv[1:]
    subprocess.run(command, stdout=None if keep else subprocess.DEVNULL, check=True)
    print(
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        file=sys.stderr if keep else sys.stdout,
    )
