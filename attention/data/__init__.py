"""Labelled texts from files, tokenised and encoded as the model reads them.

- :mod:`attention.data.sources`: where texts come from (class folders, archives, tables);
- :mod:`attention.data.tokenizer`: the one tokeniser, equal to the original TensorFlow rules;
- :mod:`attention.data.ranks`: the training split's vocabulary, by word frequency;
- :mod:`attention.data.conventions`: Keras's IMDB conventions (start, out-of-vocabulary, shuffle);
- :mod:`attention.data.cache`: the tokenisation cache;
- :mod:`attention.data.imdb`: IMDB in every form (``attention.imdb`` is the same module);
- :mod:`attention.data.labelled`: any labelled texts, two classes or many.
"""

from attention.data.errors import DatasetError
from attention.data.labelled import Labelled, load_labelled

__all__ = ["DatasetError", "Labelled", "load_labelled"]
