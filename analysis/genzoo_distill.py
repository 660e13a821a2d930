"""Compatibility name of genzoo_analysis.distill (the reader moved into the genzoo_analysis package): with
analysis/ on sys.path, `import genzoo_distill` gives that very module, and `python3 analysis/genzoo_distill.py ...`
runs its command line."""

import sys

from genzoo_analysis import distill

if __name__ == "__main__":
    sys.exit(distill.main(sys.argv))
sys.modules[__name__] = distill
