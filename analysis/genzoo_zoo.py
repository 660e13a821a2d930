"""Compatibility name of genzoo_analysis.zoo (the reader moved into the genzoo_analysis package): with
analysis/ on sys.path, `import genzoo_zoo` gives that very module."""

import sys

from genzoo_analysis import zoo

sys.modules[__name__] = zoo
