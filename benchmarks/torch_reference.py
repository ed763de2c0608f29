"""The original network rewritten in PyTorch, as someone porting the TF1 script to PyTorch would.

For the benchmark only (`scripts/benchmark.py --torch`): `nn.Embedding` initialised
uniform(-1, 1), a bidirectional `nn.GRU` over the padded batch, the original's attention
(no mask, as the original), dropout, `nn.Linear`, `BCEWithLogitsLoss` and Adam at the
original's constants. With `packed=True` the GRU gets a packed sequence instead, PyTorch's
way to honour the original's `sequence_length`: on a CPU its backward pass is an order of
magnitude slower (each step's slice of the packed gradient is a zero-filled copy of it all). PyTorch's GRU is the
cuDNN-style cell (the reset gate applied after the recurrent matmul), so the math is close
to the original's, not identical: the timings compare the frameworks, not the outputs.
Needs `torch` (the `bench` extra). The constants come from the caller (the harness passes
`attention.defaults`): this module does not import `attention`, so TensorFlow never loads
beside PyTorch in its process.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class TorchBiGRUAttention(nn.Module):
    def __init__(self, constants: dict, packed: bool = False) -> None:
        super().__init__()
        self.packed = packed
        hidden, attention, depth = constants["HIDDEN_SIZE"], constants["ATTENTION_SIZE"], constants["EMBEDDING_DIM"]
        self.embedding = nn.Embedding(constants["NUM_WORDS"], depth)
        nn.init.uniform_(self.embedding.weight, -1.0, 1.0)
        self.gru = nn.GRU(depth, hidden, batch_first=True, bidirectional=True)
        self.w_omega = nn.Parameter(torch.randn(2 * hidden, attention) * 0.1)
        self.b_omega = nn.Parameter(torch.randn(attention) * 0.1)
        self.u_omega = nn.Parameter(torch.randn(attention) * 0.1)
        self.dropout = nn.Dropout(1.0 - constants["KEEP_PROB"])
        self.output = nn.Linear(2 * hidden, 1)

    def forward(self, word_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        embedded = self.embedding(word_ids)
        if self.packed:
            packed = nn.utils.rnn.pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
            outputs, _ = nn.utils.rnn.pad_packed_sequence(self.gru(packed)[0], batch_first=True,
                                                          total_length=word_ids.shape[1])
        else:
            outputs, _ = self.gru(embedded)
        v = torch.tanh(outputs @ self.w_omega + self.b_omega)
        alphas = torch.softmax(v @ self.u_omega, dim=1)
        pooled = (outputs * alphas.unsqueeze(-1)).sum(dim=1)
        return self.output(self.dropout(pooled)).squeeze(-1)


class TorchReference:
    """`train_step(x, y, lengths)` and `predict(x, lengths)` on NumPy batches, as the reference's.

    `constants`: the original's `NUM_WORDS`, `EMBEDDING_DIM`, `HIDDEN_SIZE`, `ATTENTION_SIZE`,
    `KEEP_PROB` and `LEARNING_RATE`, by those names.
    """

    def __init__(self, constants: dict, seed: int = 0, packed: bool = False,
                 intra_op_threads: int | None = None, inter_op_threads: int | None = None, device: str = "cpu") -> None:
        if intra_op_threads:
            torch.set_num_threads(intra_op_threads)
        if inter_op_threads:
            torch.set_num_interop_threads(inter_op_threads)
        torch.manual_seed(seed)
        self.device = torch.device(device)
        self.model = TorchBiGRUAttention(constants, packed).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=constants["LEARNING_RATE"])
        self.loss = nn.BCEWithLogitsLoss()

    @staticmethod
    def sequence_lengths(x: np.ndarray) -> np.ndarray:
        """The original's `seq_len` (the first padding 0 counts as a step), for zero-padded rows."""
        return np.minimum(np.count_nonzero(x, axis=1) + 1, x.shape[1])

    def train_step(self, x: np.ndarray, y: np.ndarray, lengths: np.ndarray) -> float:
        self.model.train()
        self.optimizer.zero_grad()
        ids, targets = torch.from_numpy(x).long().to(self.device), torch.from_numpy(y).float().to(self.device)
        loss = self.loss(self.model(ids, torch.from_numpy(lengths)), targets)
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def predict(self, x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        self.model.eval()
        with torch.inference_mode():
            return self.model(torch.from_numpy(x).long().to(self.device), torch.from_numpy(lengths)).cpu().numpy()

    def predict_many(self, batches: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """`predict` over `(x, lengths)` batches with one read-back at the end, the logits concatenated.

        On a GPU each batch's word ids go through pinned memory without waiting: a blocking copy
        would wait for the batches before it, and the host could not queue the next batch while
        the GPU works.
        """
        self.model.eval()
        pin = self.device.type == "cuda"
        outputs = []
        with torch.inference_mode():
            for x, lengths in batches:
                ids = torch.from_numpy(x).long()
                ids = ids.pin_memory().to(self.device, non_blocking=True) if pin else ids.to(self.device)
                outputs.append(self.model(ids, torch.from_numpy(lengths)))
            return torch.cat(outputs).cpu().numpy()
