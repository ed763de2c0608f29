"""Bi-GRU with attention for text classification: a Keras 3 port of the TF1 classic."""

from attention import console

# Before Keras loads TensorFlow: its start-up logging is noise on a CPU machine
# (ATTENTION_VERBOSE=1 keeps it).
console.quiet()

from attention.bidirectional import BidirectionalGRU
from attention.gru import ConcatGRU
from attention.layer import AttentionLayer, attention
from attention.model import build_model, inspection_model
from attention.preprocessing import batch_generator, fit_in_vocabulary, get_vocabulary_size, zero_pad

__all__ = [
    "AttentionLayer",
    "BidirectionalGRU",
    "ConcatGRU",
    "attention",
    "batch_generator",
    "build_model",
    "fit_in_vocabulary",
    "get_vocabulary_size",
    "inspection_model",
    "zero_pad",
]
__version__ = "0.1.0"
