"""NLU fallback for a pipeline with a retrieval intent.

`Chat311FallbackClassifier` is Rasa's FallbackClassifier (same `threshold` and `ambiguity_threshold`)
plus two rules that also predict `nlu_fallback`:
- the top intent is `out_of_scope` — trained on questions a 311 line does not handle (the usual Rasa
  way to teach what is out of scope), but reported under DESIGN.md's single label for them;
- the top intent is the retrieval intent `faq` and the ResponseSelector's confidence for the chosen
  answer is below `faq_threshold`.

Why: `faq` pools ten different topics, so almost any question ("how tall is mount everest?") lands on
it with a high *intent* confidence; the selector's confidence among the ten answers is what tells a real
FAQ from an out-of-scope question. Numbers: bot/README.md ("NLU evaluation").
"""

from __future__ import annotations

from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.classifiers.fallback_classifier import FallbackClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, PREDICTED_CONFIDENCE_KEY
from rasa.shared.nlu.training_data.message import Message

FAQ_THRESHOLD_KEY = "faq_threshold"
RETRIEVAL_INTENT_KEY = "retrieval_intent"
OUT_OF_SCOPE_KEY = "out_of_scope_intent"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class Chat311FallbackClassifier(FallbackClassifier):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**FallbackClassifier.get_default_config(), FAQ_THRESHOLD_KEY: 0.0,
                RETRIEVAL_INTENT_KEY: "faq", OUT_OF_SCOPE_KEY: "out_of_scope"}

    def _should_fallback(self, message: Message) -> bool:
        if super()._should_fallback(message):
            return True
        top_intent = (message.data.get(INTENT) or {}).get(INTENT_NAME_KEY)
        if top_intent == self.component_config.get(OUT_OF_SCOPE_KEY, "out_of_scope"):
            return True
        retrieval_intent = self.component_config.get(RETRIEVAL_INTENT_KEY, "faq")
        if top_intent != retrieval_intent:
            return False
        selector = (message.data.get("response_selector") or {}).get(retrieval_intent) or {}
        confidence = (selector.get("response") or {}).get(PREDICTED_CONFIDENCE_KEY)
        return confidence is not None and confidence < self.component_config.get(FAQ_THRESHOLD_KEY, 0.0)
