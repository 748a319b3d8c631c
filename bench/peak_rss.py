"""`python -m bench.peak_rss CMD…`: run CMD (stdout discarded), print its peak RSS in KiB."""

import resource
import subprocess
import sys

if __name__ == "__main__":
    subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
    print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
