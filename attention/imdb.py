"""``attention.imdb`` is :mod:`attention.data.imdb`: the IMDB loader kept its public name."""

import sys

from attention.data import imdb as _imdb

# The same module object under both names, so that attributes set on one are seen by both.
sys.modules[__name__] = _imdb
