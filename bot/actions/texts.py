"""Bot texts used by custom actions, in English and Spanish. Service names, attribute questions and
values come from the service catalogue (chat_server/tickets/catalogue.yml), not from here."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "ask_location": {
        "en": "Where is the problem ({service})? Type the street address or the nearest intersection "
              "(e.g. \"1234 Sharon Amity Rd\" or \"Tryon St and 5th St\"), or share your location with the "
              "📍 button.",
        "es": "¿Dónde está el problema ({service})? Escriba la dirección o el cruce más cercano "
              "(por ejemplo \"1234 Sharon Amity Rd\" o \"Tryon St y 5th St\"), o comparta su ubicación con el "
              "botón 📍.",
    },
    "ask_description": {
        "en": "Please describe the problem in a sentence or two — anything that helps the crew find and fix it "
              "(landmarks, how long it's been there).",
        "es": "Describa el problema en una o dos frases: cualquier detalle que ayude al equipo a encontrarlo y "
              "resolverlo (puntos de referencia, desde cuándo está así).",
    },
    "ask_photo": {
        "en": "Do you have a photo? Send it with the 📷 button, or say \"skip\".",
        "es": "¿Tiene una foto? Envíela con el botón 📷, o diga \"omitir\".",
    },
    "photo_invalid": {
        "en": "I didn't get a photo. Send one with the 📷 button, or say \"skip\".",
        "es": "No recibí una foto. Envíela con el botón 📷, o diga \"omitir\".",
    },
    "ask_contact_name": {
        "en": "Would you like follow-up on this request? Type your name, or say \"skip\" to report anonymously.",
        "es": "¿Desea recibir seguimiento de este reporte? Escriba su nombre, o diga \"omitir\" para reportar "
              "de forma anónima.",
    },
    "ask_phone": {
        "en": "What phone number can we reach you at? (or \"skip\")",
        "es": "¿A qué número de teléfono le podemos llamar? (o \"omitir\")",
    },
    "ask_email": {
        "en": "And your email address, for the confirmation? (or \"skip\")",
        "es": "¿Y su correo electrónico, para la confirmación? (o \"omitir\")",
    },
    "prefilled": {
        "en": "Got it: {value}.",
        "es": "Entendido: {value}.",
    },
    "summary": {
        "en": "Here is your report:\n{lines}\nShall I submit it?",
        "es": "Este es su reporte:\n{lines}\n¿Lo envío?",
    },
    "confirm_invalid": {
        "en": "Please choose Submit, Change something or Cancel.",
        "es": "Elija Enviar, Cambiar algo o Cancelar.",
    },
    "ask_change": {
        "en": "What would you like to change?",
        "es": "¿Qué desea cambiar?",
    },
    "location_missing": {
        "en": "I need a location to file this. Please type the street address (e.g. \"1234 Sharon Amity Rd\"), "
              "a nearby intersection (\"Tryon St and 4th St\"), or share your location.",
        "es": "Necesito una ubicación para hacer el reporte. Escriba la dirección (por ejemplo \"1234 Sharon "
              "Amity Rd\"), un cruce cercano (\"Tryon St y 4th St\") o comparta su ubicación.",
    },
    "location_implausible": {
        "en": "Sorry, I couldn't recognise \"{value}\" as a location. Please include a street name, like "
              "\"1234 Sharon Amity Rd\" or \"Beatties Ford Rd and LaSalle St\", or share your location.",
        "es": "Perdón, no reconocí \"{value}\" como una ubicación. Incluya el nombre de la calle, por ejemplo "
              "\"1234 Sharon Amity Rd\" o \"Beatties Ford Rd y LaSalle St\", o comparta su ubicación.",
    },
    "coords_range": {
        "en": "Those coordinates don't look right (latitude must be between -90 and 90, longitude between "
              "-180 and 180). Please type the street address instead, or share your location again.",
        "es": "Esas coordenadas no parecen correctas (la latitud va de -90 a 90 y la longitud de -180 a 180). "
              "Escriba la dirección o vuelva a compartir su ubicación.",
    },
    "enum_invalid": {
        "en": "Sorry, I didn't catch that. Please choose one of: {options}.",
        "es": "Perdón, no le entendí. Elija una de estas opciones: {options}.",
    },
    "multi_invalid": {
        "en": "Sorry, I didn't catch that. Please choose one or more of: {options}.",
        "es": "Perdón, no le entendí. Elija una o más de estas opciones: {options}.",
    },
    "number_invalid": {
        "en": "Please give a number of days, for example \"3\" or \"about two weeks\".",
        "es": "Indique un número de días, por ejemplo \"3\" o \"como dos semanas\".",
    },
    "plate_invalid": {
        "en": "That doesn't look like a license plate. Plates are 2–8 letters and numbers, like \"ABC-1234\". "
              "Say \"unknown\" if you can't see it.",
        "es": "Eso no parece una placa. Las placas tienen de 2 a 8 letras y números, como \"ABC-1234\". "
              "Diga \"no sé\" si no la puede ver.",
    },
    "pole_number_invalid": {
        "en": "Pole numbers are usually a short code with digits on a metal tag (like \"CL 40213\"). "
              "Type it, or say \"skip\".",
        "es": "El número del poste suele ser un código corto con dígitos en una placa de metal "
              "(como \"CL 40213\"). Escríbalo o diga \"omitir\".",
    },
    "vehicle_invalid": {
        "en": "Please describe the vehicle with a few words, like \"silver Toyota Camry\" or \"red pickup truck\".",
        "es": "Describa el vehículo con unas palabras, como \"Toyota Camry gris\" o \"camioneta roja\".",
    },
    "description_invalid": {
        "en": "Please describe the problem in a few words so the crew knows what to look for.",
        "es": "Describa el problema en pocas palabras para que el equipo sepa qué buscar.",
    },
    "name_invalid": {
        "en": "Please type just your name (letters only), or say \"skip\" to stay anonymous.",
        "es": "Escriba solo su nombre (sin números), o diga \"omitir\" para quedar anónimo.",
    },
    "phone_invalid": {
        "en": "That doesn't look like a US phone number. Please use 10 digits, like 704-555-0123, or say \"skip\".",
        "es": "Ese no parece un número de teléfono de EE. UU. Use 10 dígitos, como 704-555-0123, "
              "o diga \"omitir\".",
    },
    "email_invalid": {
        "en": "That email address doesn't look right (example: name@example.com). Please try again or say "
              "\"skip\".",
        "es": "Ese correo no parece correcto (ejemplo: nombre@ejemplo.com). Inténtelo de nuevo o diga "
              "\"omitir\".",
    },
    "cancelled": {
        "en": "Okay, I've cancelled that report — nothing was filed. Is there anything else I can help with?",
        "es": "Listo, cancelé el reporte; no se envió nada. ¿Hay algo más en lo que pueda ayudarle?",
    },
    "correction_ask": {
        "en": "Sure, let's fix that.",
        "es": "Claro, corrijámoslo.",
    },
    "correction_done": {
        "en": "Updated: {value}.",
        "es": "Actualizado: {value}.",
    },
    "form_submitting": {
        "en": "Thank you! I'm filing your {service} request now…",
        "es": "¡Gracias! Estoy enviando su reporte de {service}…",
    },
    "escalate": {
        "en": "Let me connect you with a 311 agent. Please stay in this chat — someone will be with you shortly.",
        "es": "Le voy a comunicar con un agente del 311. Por favor permanezca en este chat; alguien le "
              "atenderá en breve.",
    },
    "fallback": {
        "en": "Sorry, I didn't understand that. I can answer questions about city services (trash pickup, "
              "water bills, property tax, voting…) or file a report (potholes, streetlights, missed pickup, "
              "graffiti…). Could you rephrase?",
        "es": "Perdón, no entendí. Puedo responder preguntas sobre servicios de la ciudad (recolección de "
              "basura, facturas de agua, impuestos, votación…) o hacer un reporte (baches, alumbrado, "
              "recolección no realizada, grafiti…). ¿Podría decirlo de otra forma?",
    },
    "ask_ticket": {
        "en": "Sure — what's your request number? It looks like 311-1234567.",
        "es": "Claro, ¿cuál es su número de solicitud? Se ve así: 311-1234567.",
    },
    "ticket_invalid": {
        "en": "I couldn't find a request number in that. It starts with 311- followed by digits, like "
              "311-1234567. Say \"cancel\" if you don't have it.",
        "es": "No encontré un número de solicitud. Empieza con 311- seguido de dígitos, como 311-1234567. "
              "Diga \"cancelar\" si no lo tiene.",
    },
    "status_cancelled": {
        "en": "No problem. You can also find your request number in the confirmation text or email.",
        "es": "No hay problema. También puede encontrar su número de solicitud en el mensaje o correo de "
              "confirmación.",
    },
    "kb_helpful": {"en": "Was this helpful?", "es": "¿Le sirvió esta respuesta?"},
    "kb_more": {"en": "More details", "es": "Más detalles"},
    "kb_yes": {"en": "Yes", "es": "Sí"},
    "kb_no": {"en": "No", "es": "No"},
    "kb_report": {"en": "Report it", "es": "Reportarlo"},
    "kb_did_you_mean": {"en": "Did you mean one of these?", "es": "¿Quiso decir alguna de estas opciones?"},
    "kb_none_of_these": {"en": "None of these", "es": "Ninguna de estas"},
    "kb_thanks": {
        "en": "Thanks for the feedback! Is there anything else I can help with?",
        "es": "¡Gracias por su opinión! ¿Hay algo más en lo que le pueda ayudar?",
    },
    "kb_sorry": {
        "en": "Sorry that didn't help. I've passed your question on so we can improve this answer. You can ask "
              "it another way, or talk to a person.",
        "es": "Lamento que no le haya servido. Envié su pregunta a nuestro equipo para mejorar esta respuesta. "
              "Puede preguntarlo de otra forma o hablar con una persona.",
    },
    "kb_talk_to_person": {"en": "Talk to a person", "es": "Hablar con una persona"},
}

# Fixed field names of the report form (attribute names come from the catalogue).
FIELD_NAMES: dict[str, dict[str, str]] = {
    "service": {"en": "Service", "es": "Servicio"},
    "location": {"en": "Location", "es": "Ubicación"},
    "description": {"en": "Description", "es": "Descripción"},
    "photo": {"en": "Photo", "es": "Foto"},
    "contact_name": {"en": "Contact", "es": "Contacto"},
}
BUTTONS: dict[str, dict[str, str]] = {
    "skip": {"en": "Skip", "es": "Omitir"},
    "unknown": {"en": "Unknown", "es": "No sé"},
    "submit": {"en": "Submit", "es": "Enviar"},
    "change": {"en": "Change something", "es": "Cambiar algo"},
    "cancel": {"en": "Cancel", "es": "Cancelar"},
    "change_prefix": {"en": "change", "es": "cambiar"},
    "photo_attached": {"en": "attached", "es": "adjunta"},
    "none": {"en": "none", "es": "ninguna"},
    "anonymous": {"en": "anonymous", "es": "anónimo"},
}

FALLBACK_BUTTONS = {
    "en": [("Report a problem", "I want to report a problem"), ("Talk to a person", "/request_human")],
    "es": [("Reportar un problema", "quiero reportar un problema"), ("Hablar con una persona", "/request_human")],
}


def t(key: str, lang: str | None, **kwargs: object) -> str:
    entry = TEXTS.get(key) or FIELD_NAMES.get(key) or BUTTONS[key]
    text = entry.get(lang or "en") or entry["en"]
    return text.format(**kwargs) if kwargs else text
