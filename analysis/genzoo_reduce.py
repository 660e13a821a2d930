"""Compatibility name of genzoo_analysis.reduce (the reader moved into the genzoo_analysis package): with
analysis/ on sys.path, `import genzoo_reduce` gives that very module, and `python3 analysis/genzoo_reduce.py ...`
runs its command line."""

import sys

from genzoo_analysis import reduce

if __name__ == "__main__":
    sys.exit(reduce.main(sys.argv))
sys.modules[__name__] = reduce
