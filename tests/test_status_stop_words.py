"""Asking for no more updates, as residents write it in a reply to one (pure)."""

from __future__ import annotations

import pytest

from chat_server.status.stop_words import asks_to_stop_updates


@pytest.mark.parametrize("said", [
    # probe R: each got a bot answer ("You're welcome!", "Sorry, I didn't understand", paperless billing) and the
    # updates went on
    "Thanks, but I don't want these updates anymore.", "Please stop emailing me about this request.",
    "Gracias, pero ya no quiero recibir estos correos.",
    # the wordings that worked before
    "unsubscribe", "stop sending me these", "ya no quiero recibir estos avisos", "darme de baja", "stop",
    "remove me", "no more emails", "cancelar suscripción",
    # and more as people write them
    "can you stop texting me", "no more texts please", "dejen de mandarme mensajes", "no me manden más",
    "I no longer need these notifications", "opt me out",
])
def test_asking_for_no_more_updates(said: str) -> None:
    assert asks_to_stop_updates(said)


@pytest.mark.parametrize("said", [
    "how do I stop the paper bill emails?", "cómo me doy de baja del recibo en papel",  # questions for the bot
    "what is the status of my request", "thanks!", "the updates are great, thanks",
    "my neighbor does not stop playing music at night",
    "stop " + "the water is still running down the street and nobody has come, " * 4,  # a story, not a reply
])
def test_other_messages_go_to_the_bot(said: str) -> None:
    assert not asks_to_stop_updates(said)
