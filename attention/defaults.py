"""The original script's constants: the defaults of the model, the data and training."""

NUM_WORDS = 10000
INDEX_FROM = 3
SEQUENCE_LENGTH = 250
EMBEDDING_DIM = 100
HIDDEN_SIZE = 150
ATTENTION_SIZE = 50
KEEP_PROB = 0.8
BATCH_SIZE = 256
NUM_EPOCHS = 3  # The model easily overfits without pre-trained word embeddings.
LEARNING_RATE = 1e-3
DELTA = 0.5  # Smoothing of the printed training loss, as the original.
