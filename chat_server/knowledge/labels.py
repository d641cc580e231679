"""The one rule for a knowledge-base turn (pure): what the bot does and the label chat_server stores
and nlu-eval scores.

An answer is `faq/<topic>` of its article; a "Did you mean…" menu counts as its top option's topic
(the resident is shown that article first, and most menus are picked at their first option);
a fallback is `nlu_fallback`. When Rasa itself found no intent (`nlu_fallback`: out of scope or low
confidence), a confident answer overrides it, and so does a menu whose first option scores at least
MENU_MIN_AFTER_RASA_FALLBACK: a close call between two right articles ("my water has a weird smell and
brown color": discoloured water .84, taste and odour .80). A weaker menu there would mostly offer
unrelated articles for a question the city does not handle ("who wrote Don Quixote"), so it becomes
the fallback.

One more case turns an unsure turn into a report: Rasa deferred to the knowledge base (`faq`, or its
fallback classifier overruled its best guess) but its best other intent is a report form at ≥ 0.3
(`report_water_leak` at 0.46: "water seeping up through the sidewalk on East Blvd"; `report_streetlight`
at 0.42 behind `faq` at 0.56: "streetlight issue near the park"), and the knowledge base's article — its
answer, or a menu's first option — is the article about that very service (its `service_code`). Two
independent signals agree, so the bot offers that report first (kind `report`, label `report_<service>`).
Out-of-scope messages whose guess happens to be a report ("write me a poem about cats" →
report_stray_animal 0.21) do not qualify: the knowledge base falls back on them. Measured on the
held-out dev file: docs/knowledge.md ("nlu-eval").

The other way round: Rasa chose a report form itself, but without much confidence, and the knowledge
base answers confidently with an article about something else ("the tap water has a weird metallic
taste" → report_water_leak 0.71, answered by taste and odour; "cars fly down my street, can we get speed
bumps" → report_fallen_tree 0.62). The answer wins; the form starts otherwise (the report form asks before
it starts, bot/actions/report_form.py). And whatever Rasa's confidence, a question about the service itself
("how long does it take to fix a pothole?", "¿cuánto tardan en arreglar un bache?") gets that service's article,
which offers "Report it", rather than a form that asks where the pothole is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chat_server.knowledge.articles import Article
from chat_server.knowledge.ranking import Kind
from chat_server.knowledge.search import FALLBACK_LABEL, Decision, KnowledgeSearch

# Rasa intents whose label the knowledge base decides (bot/README.md "Knowledge base").
KB_INTENTS = ("faq", FALLBACK_LABEL)
# Below this, Rasa's runner-up guess is noise (out-of-scope messages get their best report at 0.1–0.2).
REPORT_GUESS_MIN = 0.3
# A menu this strong (combined score of its first option, shipped calibration's scale) stands even when
# Rasa fell back. Measured through Rasa on the dev files (docs/knowledge.md, 2026-12-06): of the kb_dev
# messages Rasa sent to nlu_fallback with a menu at ≥ 0.85, all 13 had the right article in the menu and
# none was out of scope; at 0.80 "how do i get a job at amazon" got the city-jobs menu.
MENU_MIN_AFTER_RASA_FALLBACK = 0.85
# A story this long dilutes every score (Rasa's and the knowledge base's): its menu stands when Rasa fell back,
# however weak. Measured through Rasa on the dev files (2026-12-06): all 8 such menus (20–40 words) had a right
# article first, and no out-of-scope message that long got a menu (the knowledge base's own out-of-scope rule
# allows for length). "mire le cuento, desde hace como una semana hay un perro grandote suelto…" got
# "no entendí" with the loose-dog article first in its menu.
LONG_MESSAGE_WORDS = 20
# Rasa's own report intent below this gives way to a confident answer about something else. Measured
# through Rasa on the dev files (docs/knowledge.md, 2026-12-06): below 0.82, all 9 such turns were
# questions the answer was right for; at 0.82–0.85 three of five were fallen limbs the answer missed.
REPORT_OVERRULE_BELOW = 0.82


# Questions about a service rather than a problem to report: how long, when, who, is it allowed. "wen is bulk
# pickup" started the bulky-item form (probe V): "when is", "what day" and their usual typos count too.
_ABOUT_THE_SERVICE = re.compile(
    r"^\W*(?:how (?:long|soon|often|much)|wh?en (?:is|are|will|do|does|can)|wh?at (?:day|days|time)|what happens|"
    r"who (?:fixes|repairs|handles|is responsible)|"
    r"is it (?:legal|allowed|ok)|do i need|cu[aá]nto (?:tiempo|tarda|tardan|cuesta)|cu[aá]ndo (?:van|vienen|arreglan|"
    r"reparan|es|pasa|pasan|recogen)|qu[eé] d[ií]as?|qui[eé]n (?:arregla|repara|se encarga)|es legal|se permite|"
    r"necesito permiso)\b", re.IGNORECASE)


def asks_about_the_service(text: str) -> bool:
    return bool(_ABOUT_THE_SERVICE.match(text))


@dataclass(frozen=True)
class ReportGuess:
    """Rasa's best intent besides `faq` / `nlu_fallback` when it chose one of those, and it starts a report."""

    intent: str  # report_<service>
    service_code: str
    confidence: float

    def overruled_by(self, decision: Decision) -> bool:
        """A weak report against a confident answer from an article about another service (or none)."""
        return (self.confidence < REPORT_OVERRULE_BELOW and decision.kind is Kind.ANSWER
                and decision.article is not None and decision.article.service_code != self.service_code)


def decision_label(decision: Decision) -> str:
    if decision.kind is Kind.MENU and decision.options:
        return f"faq/{decision.options[0].topic}"
    return decision.label


def _first_article(decision: Decision, search: KnowledgeSearch) -> Article | None:
    """The article the resident is shown first: the answer, or a menu's first option."""
    if decision.kind is Kind.ANSWER:
        return decision.article
    return search.get(decision.options[0].article_id) if decision.kind is Kind.MENU and decision.options else None


def for_intent(decision: Decision, intent: str | None, search: KnowledgeSearch,
               guess: ReportGuess | None = None, text: str = "") -> Decision:
    """The decision the bot acts on, given Rasa's intent for the message and its best report intent
    (the runner-up when it chose `faq` / `nlu_fallback`, else the report form it chose)."""
    if guess is not None and intent == guess.intent:
        if guess.overruled_by(decision):
            return decision
        first = _first_article(decision, search)
        if asks_about_the_service(text) and first is not None and first.service_code == guess.service_code:
            return Decision(Kind.ANSWER, decision.language, article=first)  # it offers "Report it"
        return Decision(Kind.REPORT, decision.language, report=guess.intent)
    if intent not in KB_INTENTS:
        return decision
    if guess is not None and guess.confidence >= REPORT_GUESS_MIN:
        first = _first_article(decision, search)
        if first is not None and first.service_code == guess.service_code:
            return Decision(Kind.REPORT, decision.language, article=first, report=guess.intent)
    if intent == FALLBACK_LABEL and decision.kind is Kind.MENU and (
            not decision.options or (decision.options[0].score < MENU_MIN_AFTER_RASA_FALLBACK
                                     and len(text.split()) < LONG_MESSAGE_WORDS)):
        return Decision(Kind.FALLBACK, decision.language)
    return decision
