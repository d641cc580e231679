"""NLU fallback that also covers the trained `out_of_scope` intent.

`Chat311FallbackClassifier` is Rasa's FallbackClassifier (same `threshold` and `ambiguity_threshold`)
plus one rule: the top intent is `out_of_scope` — trained on questions a 311 line does not handle
(the usual Rasa way to teach what is out of scope) — is reported under DESIGN.md's single label for
them, `nlu_fallback`. Whether a question is answerable is decided afterwards by the knowledge base
(the bot runs `action_kb_answer` for both `faq` and `nlu_fallback`; bot/README.md).
"""

from __future__ import annotations

from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.classifiers.fallback_classifier import FallbackClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY
from rasa.shared.nlu.training_data.message import Message

OUT_OF_SCOPE_KEY = "out_of_scope_intent"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class Chat311FallbackClassifier(FallbackClassifier):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**FallbackClassifier.get_default_config(), OUT_OF_SCOPE_KEY: "out_of_scope"}

    def _should_fallback(self, message: Message) -> bool:
        if super()._should_fallback(message):
            return True
        top_intent = (message.data.get(INTENT) or {}).get(INTENT_NAME_KEY)
        return top_intent == self.component_config.get(OUT_OF_SCOPE_KEY, "out_of_scope")
