"""Wire the shipped files (articles, topics, catalogue codes, calibration) into a KnowledgeSearch."""

from __future__ import annotations

from pathlib import Path

from chat_server.knowledge.articles import KNOWLEDGE_DIR, load_articles, load_rules
from chat_server.knowledge.ranking import CALIBRATION_FILE, load_calibration
from chat_server.knowledge.scope import load_out_of_scope
from chat_server.knowledge.search import KnowledgeSearch
from chat_server.knowledge.semantic import Embedder, UniversalSentenceEncoder


def build_search(knowledge_dir: Path | None = None, calibration_file: Path | None = None,
                 embedder: Embedder | None = None) -> KnowledgeSearch:
    """Load and index everything; slow (model + embeddings, a few seconds): run it off the event loop.

    Articles are validated against the shipped topic list, so a test fixture directory needs no
    topics.yml of its own; likewise it uses the shipped out-of-scope list unless it has one.
    Raises ArticleError / CalibrationError naming the file and field.
    """
    knowledge_dir = knowledge_dir or KNOWLEDGE_DIR
    rules = load_rules(KNOWLEDGE_DIR)
    articles = load_articles(knowledge_dir, rules)
    calibration = load_calibration(calibration_file or CALIBRATION_FILE)
    scope = load_out_of_scope(knowledge_dir)
    return KnowledgeSearch(embedder or UniversalSentenceEncoder(), calibration, articles, scope)

