"""The emergency guard's net for wordings it has no pattern for: what a message means, not how it is worded.

Two testers who had not seen the patterns each wrote a few hundred messages, and the wordings caught about four
in five of their emergencies (docs/safety.md); a list of wordings misses how the next person puts it. This net
compares a message's meaning (the knowledge base's multilingual sentence model, the same one) with the labelled
examples (the dev set, chat_server/emergency_examples.csv): the message reads as an emergency when its nearest
emergency example is close (FLOOR) and clearly closer than its nearest other message (MARGIN).

Measured before use: learning from the original dev set and probe AC's messages, on probe AD's (another author):
alone, 0.77 of the emergencies at 3.6 % false alarms; with the wordings of the start of that session, recall
0.72 → 0.88 at false alarms 10.7 % → 13.7 %. A false alarm costs one extra line: the message also goes on to the
bot (or the queue) as typed, so the resident's question is still answered. It runs where no person reads the
message yet (with the bot, or waiting in the queue), about 2 ms in a worker thread; an agent's chat is read by
the agent.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from chat_server.emergency_examples import EMERGENCY, EXAMPLES, Row, read_rows
from chat_server.knowledge.semantic import Embedder, embed_all, one_blas_thread

FLOOR = 0.50
MARGIN = 0.10


def unshouted(text: str) -> str:
    """`text` in lower case when it is typed in capitals. The model reads case, and its examples are written as
    most people write: "POTHOLE ON 5TH STREET", "SUBMIT", "I NEED TO TALK TO A PERSON" read as emergencies, and
    17.9 % of the held-out set's non-emergencies did once upper-cased, against 1.1 % as written (probe AG)."""
    cased = [c for c in text if c.isalpha() and c.lower() != c.upper()]
    upper = sum(c.isupper() for c in cased)
    return text.lower() if len(cased) >= 2 and upper >= 0.7 * len(cased) else text


class SemanticNet:
    def __init__(self, embedder: Embedder, examples: Sequence[Row]) -> None:
        self._embedder = embedder
        with one_blas_thread():
            vectors = embed_all(embedder, [r.text for r in examples])
        emergency = np.array([r.label == EMERGENCY for r in examples])
        self._emergencies, self._others = vectors[emergency], vectors[~emergency]

    @classmethod
    def from_examples(cls, embedder: Embedder) -> SemanticNet:
        return cls(embedder, read_rows(EXAMPLES))

    def reads_emergency(self, text: str) -> bool:
        """Whether `text` means an emergency (blocking, ~2 ms: call it in a worker thread)."""
        with one_blas_thread():
            vector = self._embedder.embed([unshouted(text)])[0]
        nearest = float((self._emergencies @ vector).max())
        other = float((self._others @ vector).max())
        return nearest >= FLOOR and nearest - other > MARGIN
