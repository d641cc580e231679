"""System messages the server itself says to residents, in every supported language.

One table so wording is reviewed in one place and no language is forgotten: a missing
translation fails the test that walks this table.
"""

from __future__ import annotations

from typing import Any

TEXTS: dict[str, dict[str, str]] = {
    "bot_slow": {
        "en": "Still working on it — thanks for your patience.",
        "es": "Seguimos trabajando en ello — gracias por su paciencia.",
    },
    "bot_unavailable": {
        "en": "Sorry, our virtual assistant is not responding right now. You can talk to a person, or try "
        "again in a minute. For emergencies call 911; for other city services you can also call 311 "
        "(704-336-7600).",
        "es": "Lo sentimos, nuestro asistente virtual no responde en este momento. Puede hablar con una "
        "persona o intentarlo de nuevo en un minuto. Para emergencias llame al 911; para otros servicios "
        "de la ciudad también puede llamar al 311 (704-336-7600).",
    },
    "talk_to_person": {"en": "Talk to a person", "es": "Hablar con una persona"},
    "no_escalation": {
        "en": "Live agents are not available right now. You can call 311 (704-336-7600), Monday–Friday "
        "7 am–7 pm, or tell me what you need and I can file a service request for you.",
        "es": "No hay agentes disponibles en este momento. Puede llamar al 311 (704-336-7600), de lunes a "
        "viernes de 7 am a 7 pm, o dígame qué necesita y puedo registrar una solicitud de servicio.",
    },
    "too_long": {
        "en": "That message is too long ({limit} characters at most). Please shorten it.",
        "es": "Ese mensaje es demasiado largo (máximo {limit} caracteres). Por favor, acórtelo.",
    },
    "rate_limited": {
        "en": "You're sending messages very quickly. Please wait a few seconds and try again.",
        "es": "Está enviando mensajes muy rápido. Espere unos segundos e inténtelo de nuevo.",
    },
    "busy": {
        "en": "We're still answering your earlier messages. Please wait a moment and send this again.",
        "es": "Todavía estamos respondiendo sus mensajes anteriores. Espere un momento y vuelva a enviarlo.",
    },
    # tickets (chat_server/tickets) ------------------------------------------------------
    "ticket_created": {
        "en": "Your request has been filed. Your request number is {ticket_id} ({service}). {notice}"
        "You can ask me about {ticket_id} any time to check its status.",
        "es": "Su solicitud fue registrada. Su número de solicitud es {ticket_id} ({service}). {notice}"
        "Puede preguntarme por {ticket_id} en cualquier momento para consultar su estado.",
    },
    "ticket_invalid": {
        "en": "Sorry, I couldn't file your report because {problem}. Nothing was filed. Please start the "
        "report again, or call 311 (704-336-7600).",
        "es": "Lo sentimos, no pude registrar su reporte porque {problem}. No se registró nada. Por favor, "
        "empiece el reporte de nuevo o llame al 311 (704-336-7600).",
    },
    "ticket_problem_location": {
        "en": "it needs an address or a location",
        "es": "necesita una dirección o una ubicación",
    },
    "ticket_problem_area": {
        "en": "that place is outside the area City of Charlotte / Mecklenburg County 311 serves (please report "
        "it to the city or county where it is)",
        "es": "ese lugar está fuera del área que atiende el 311 de Charlotte / condado de Mecklenburg (por favor, "
        "repórtelo a la ciudad o condado donde se encuentra)",
    },
    "duplicate_found": {
        "en": "This looks already reported as {ticket_id} ({service}), reported on {date}, status {status}. "
        "You can follow it to hear when its status changes, add your details or photo to it, or file a new "
        "request anyway.",
        "es": "Parece que esto ya fue reportado como {ticket_id} ({service}), reportado el {date}, estado "
        "{status}. Puede seguirlo para saber cuándo cambie su estado, agregarle sus detalles o foto, o "
        "registrar una solicitud nueva de todos modos.",
    },
    "duplicate_follow_button": {"en": "Follow it", "es": "Seguirlo"},
    "duplicate_add_button": {"en": "Add my details", "es": "Agregar mis detalles"},
    "duplicate_file_button": {"en": "File anyway", "es": "Registrar de todos modos"},
    "duplicate_following": {
        "en": "Done — you're following {ticket_id}. We'll let you know when its status changes; you can also "
        "ask me about {ticket_id} any time.",
        "es": "Listo, está siguiendo {ticket_id}. Le avisaremos cuando cambie su estado; también puede "
        "preguntarme por {ticket_id} en cualquier momento.",
    },
    "duplicate_added": {
        "en": "Thank you — your details were added to {ticket_id}, and you're following it. You can ask me "
        "about {ticket_id} any time.",
        "es": "Gracias, sus detalles se agregaron a {ticket_id} y está siguiendo la solicitud. Puede "
        "preguntarme por {ticket_id} en cualquier momento.",
    },
    "ticket_problem_attribute": {
        "en": "the answer to “{question}” was missing or not valid",
        "es": "la respuesta a «{question}» faltaba o no era válida",
    },
    "ticket_problem_description": {
        "en": "the description is too long (4,000 characters at most)",
        "es": "la descripción es demasiado larga (máximo 4,000 caracteres)",
    },
    "ticket_problem_other": {
        "en": "some of the details were not valid",
        "es": "algunos de los datos no eran válidos",
    },
    "ticket_failed": {
        "en": "Sorry, something went wrong and your report was not filed. Please try again in a few minutes, "
        "or call 311 (704-336-7600).",
        "es": "Lo sentimos, algo salió mal y su reporte no se registró. Inténtelo de nuevo en unos minutos o "
        "llame al 311 (704-336-7600).",
    },
    "status_unknown": {
        "en": "I couldn't find a request with the number {ticket_id}. Please check the number (it looks like "
        "311-1234567), or call 311 (704-336-7600).",
        "es": "No encontré ninguna solicitud con el número {ticket_id}. Por favor, revise el número (se ve así: "
        "311-1234567) o llame al 311 (704-336-7600).",
    },
    "status_answer": {
        "en": "Request {ticket_id} ({service}), filed {filed}, is {status}.",
        "es": "La solicitud {ticket_id} ({service}), registrada el {filed}, está {status}.",
    },
    "status_last_note": {"en": " Latest update: {note}", "es": " Última actualización: {note}"},
    "status_expected": {"en": " Expected to be done by {date}.", "es": " Fecha prevista de atención: {date}."},
    "ticket_status_submitted": {"en": "open (received)", "es": "abierta (recibida)"},
    "ticket_status_acknowledged": {"en": "open (reviewed by the department)",
                                   "es": "abierta (revisada por el departamento)"},
    "ticket_status_in_progress": {"en": "open (work in progress)", "es": "abierta (en proceso)"},
    "ticket_status_resolved": {"en": "closed (resolved)", "es": "cerrada (resuelta)"},
    "ticket_status_duplicate": {"en": "closed (same problem as another request)",
                                "es": "cerrada (mismo problema que otra solicitud)"},
    "ticket_status_cancelled": {"en": "closed (cancelled)", "es": "cerrada (cancelada)"},
    "ticket_status_referred": {"en": "closed (referred to another agency)",
                               "es": "cerrada (remitida a otra agencia)"},
    "status_link": {"en": " Details: {status_url}", "es": " Detalles: {status_url}"},
    # status changes and following (chat_server/status) --------------------------------
    "status_notice": {
        "en": "Update on 311 request {ticket_id} ({service}): it is now {status}.{note} Details: {status_url}",
        "es": "Novedad sobre la solicitud {ticket_id} del 311 ({service}): ahora está {status}.{note} "
        "Detalles: {status_url}",
    },
    "status_notice_note": {"en": " Note from the city: {note}", "es": " Nota de la ciudad: {note}"},
    "status_notice_stop": {"en": "Stop these updates: {stop_url}", "es": "Dejar de recibir avisos: {stop_url}"},
    "status_notice_subject": {"en": "Update on 311 request {ticket_id}",
                              "es": "Novedad sobre la solicitud {ticket_id} del 311"},
    "follow_offer": {
        "en": "Want a message here when request {ticket_id} changes?",
        "es": "¿Quiere un aviso aquí cuando cambie la solicitud {ticket_id}?",
    },
    "follow_on": {
        "en": "You're getting updates about request {ticket_id} here.",
        "es": "Está recibiendo aquí los avisos de la solicitud {ticket_id}.",
    },
    "follow_button": {"en": "Follow this request", "es": "Seguir esta solicitud"},
    "unfollow_button": {"en": "Stop updates", "es": "Dejar de recibir avisos"},
    "followed": {
        "en": "Done: I'll tell you here when request {ticket_id} changes.",
        "es": "Listo: le avisaré aquí cuando cambie la solicitud {ticket_id}.",
    },
    "unfollowed": {
        "en": "Done: you'll get no more updates about request {ticket_id}.",
        "es": "Listo: ya no recibirá avisos sobre la solicitud {ticket_id}.",
    },
    "follow_confirm": {
        "en": "To get updates on 311 request {ticket_id}, confirm here: {confirm_url}",
        "es": "Para recibir avisos sobre la solicitud {ticket_id} del 311, confirme aquí: {confirm_url}",
    },
    "follow_confirm_subject": {"en": "Confirm updates on 311 request {ticket_id}",
                               "es": "Confirme los avisos de la solicitud {ticket_id} del 311"},
    # the status page (/status/<id>) ------------------------------------------------------
    "page_title": {"en": "Request {ticket_id} — City 311", "es": "Solicitud {ticket_id} — 311"},
    "page_brand": {"en": "City 311", "es": "311 de la Ciudad"},
    "page_heading": {"en": "Request {ticket_id}", "es": "Solicitud {ticket_id}"},
    "page_switch": {"en": "Español", "es": "English"},
    "page_switch_label": {"en": "Ver esta página en español", "es": "View this page in English"},
    "page_status": {"en": "Status", "es": "Estado"},
    "page_filed": {"en": "Filed", "es": "Registrada"},
    "page_expected": {"en": "Expected by", "es": "Fecha prevista"},
    "page_address": {"en": "Location", "es": "Ubicación"},
    "page_description": {"en": "Description", "es": "Descripción"},
    "page_notes": {"en": "Latest note from the city", "es": "Última nota de la ciudad"},
    "page_timeline": {"en": "History", "es": "Historial"},
    "page_photos": {"en": "Photos", "es": "Fotos"},
    "page_photo_alt": {"en": "Photo sent with the request", "es": "Foto enviada con la solicitud"},
    "page_photo_link": {"en": "Open the photo", "es": "Abrir la foto"},
    "page_follow": {"en": "Get updates", "es": "Recibir avisos"},
    "page_follow_help": {
        "en": "We'll text or e-mail you when this request changes. You'll first get a link to confirm.",
        "es": "Le enviaremos un mensaje de texto o un correo cuando cambie esta solicitud. Primero recibirá "
        "un enlace para confirmar.",
    },
    "page_contact": {"en": "Mobile number or e-mail address", "es": "Número de celular o correo electrónico"},
    "page_follow_submit": {"en": "Send me updates", "es": "Enviarme avisos"},
    "page_contact_invalid": {
        "en": "Please enter a US mobile number (like 704-555-0123) or an e-mail address.",
        "es": "Escriba un número de celular de EE. UU. (como 704-555-0123) o un correo electrónico.",
    },
    "page_channel_off": {
        "en": "Updates by {channel} are not available right now. Please try the other option.",
        "es": "Los avisos por {channel} no están disponibles ahora. Pruebe la otra opción.",
    },
    "page_channel_sms": {"en": "text message", "es": "mensaje de texto"},
    "page_channel_email": {"en": "e-mail", "es": "correo electrónico"},
    "page_too_many": {"en": "Too many requests. Please try again later.",
                      "es": "Demasiadas solicitudes. Inténtelo más tarde."},
    "page_check_inbox": {
        "en": "Almost done: we sent a confirmation link to {address}. Open it to start getting updates.",
        "es": "Casi listo: enviamos un enlace de confirmación a {address}. Ábralo para empezar a recibir avisos.",
    },
    "page_confirm_heading": {"en": "Confirm updates", "es": "Confirmar los avisos"},
    "page_confirm_text": {"en": "Get updates about request {ticket_id} at {address}?",
                          "es": "¿Recibir avisos sobre la solicitud {ticket_id} en {address}?"},
    "page_confirm_submit": {"en": "Yes, send me updates", "es": "Sí, enviarme avisos"},
    "page_confirmed": {"en": "You'll get updates about request {ticket_id}.",
                       "es": "Recibirá avisos sobre la solicitud {ticket_id}."},
    "page_stop_heading": {"en": "Stop updates", "es": "Dejar de recibir avisos"},
    "page_stop_text": {"en": "Stop getting updates about request {ticket_id}?",
                       "es": "¿Dejar de recibir avisos sobre la solicitud {ticket_id}?"},
    "page_stopped": {"en": "You'll get no more updates about request {ticket_id}.",
                     "es": "Ya no recibirá avisos sobre la solicitud {ticket_id}."},
    "page_link_expired": {"en": "This link has expired or was already used.",
                          "es": "Este enlace venció o ya se usó."},
    "page_back": {"en": "Back to request {ticket_id}", "es": "Volver a la solicitud {ticket_id}"},
    "page_footer": {"en": "For emergencies call 911. For other city services call 311 (704-336-7600).",
                    "es": "Para emergencias llame al 911. Para otros servicios de la ciudad llame al 311 "
                    "(704-336-7600)."},
    "page_not_found_title": {"en": "Request not found", "es": "Solicitud no encontrada"},
    "page_not_found": {
        "en": "We couldn't find a request with the number {ticket_id}. Please check the number (it looks like "
        "311-1234567), or call 311 (704-336-7600).",
        "es": "No encontramos ninguna solicitud con el número {ticket_id}. Revise el número (se ve así: "
        "311-1234567) o llame al 311 (704-336-7600).",
    },
    "ticket_status_open": {"en": "open", "es": "abierta"},
    "ticket_status_closed": {"en": "closed", "es": "cerrada"},
    # --- channels (SMS, mobile-app API, e-mail): plain text, GSM-7 friendly in English ---
    "reply_with_number": {"en": "Reply with a number:", "es": "Responda con un número:"},
    "channel_queue": {
        "en": "You're number {position} in line for a 311 agent.",
        "es": "Usted es el número {position} en la fila para un agente del 311.",
    },
    "channel_queue_wait": {
        "en": "You're number {position} in line for a 311 agent (about {minutes} min).",
        "es": "Usted es el número {position} en la fila para un agente del 311 (unos {minutes} min).",
    },
    "channel_ticket": {
        "en": "Track request {ticket_id} online: {status_url}",
        "es": "Consulte la solicitud {ticket_id} en línea: {status_url}",
    },
    "channel_closed": {
        "en": "This conversation has ended. Write again any time you need the city.",
        "es": "Esta conversación ha terminado. Escríbanos de nuevo cuando necesite a la ciudad.",
    },
    "sms_help": {
        "en": "City 311 text line: ask a question or report a problem. For emergencies call 911. "
        "Msg&data rates may apply. Reply STOP to opt out.",
        "es": "Línea de texto del 311: haga una pregunta o reporte un problema. Para emergencias llame al 911. "
        "Pueden aplicar tarifas. Responda PARAR para cancelar.",
    },
    "sms_stopped": {
        "en": "You are unsubscribed from City 311 texts and will get no more messages. Reply START to resubscribe.",
        "es": "Ya no recibirá mensajes de texto del 311. Responda START para volver a suscribirse.",
    },
    "sms_started": {
        "en": "You are subscribed to City 311 texts again. Reply HELP for help, STOP to opt out.",
        "es": "Está suscrito de nuevo a los mensajes del 311. Responda AYUDA para ayuda, PARAR para cancelar.",
    },
    "email_subject": {"en": "Your conversation with City 311", "es": "Su conversación con el 311"},
    "transcript_subject": {
        "en": "Transcript of your conversation with City 311",
        "es": "Transcripción de su conversación con el 311",
    },
    "transcript_intro": {
        "en": "Here is the transcript of your conversation with City 311 you asked for.",
        "es": "Aquí tiene la transcripción de su conversación con el 311 que solicitó.",
    },
    "sender_resident": {"en": "You", "es": "Usted"},
    "sender_bot": {"en": "311 assistant", "es": "Asistente 311"},
    "sender_agent": {"en": "311 agent", "es": "Agente 311"},
    "sender_system": {"en": "311", "es": "311"},
    # escalation to agents (chat_server/agents) ----------------------------------------
    "queued": {
        "en": "You're in line to chat with a 311 agent. Please keep this window open; we'll let you know "
        "your place in line.",
        "es": "Está en la fila para hablar con un agente del 311. Mantenga esta ventana abierta; le "
        "indicaremos su lugar en la fila.",
    },
    "agent_joined": {"en": "{name} joined the chat.", "es": "{name} se unió al chat."},
    "agent_disconnected": {
        "en": "Your agent lost their connection. You're back in line and the next available agent will "
        "continue — your messages are kept.",
        "es": "Su agente perdió la conexión. Volvió a la fila y el próximo agente disponible continuará; "
        "sus mensajes se conservan.",
    },
    "transferred_queue": {
        "en": "Your chat is being transferred to another agent. Please stay in the chat.",
        "es": "Su chat se está transfiriendo a otro agente. Por favor, permanezca en el chat.",
    },
    "agent_closed": {
        "en": "{name} ended the chat. Thank you for contacting City 311. If you need anything else, just "
        "type a message and our virtual assistant will help.",
        "es": "{name} terminó el chat. Gracias por comunicarse con el 311. Si necesita algo más, escriba "
        "un mensaje y nuestro asistente virtual le ayudará.",
    },
    "queue_incident": {
        "en": "{title}: many residents are contacting 311 right now, so waits are longer than usual. Thank "
        "you for your patience — your place in line is kept.",
        "es": "{title}: muchas personas están contactando al 311 en este momento, por lo que la espera es "
        "más larga de lo normal. Gracias por su paciencia; su lugar en la fila se mantiene.",
    },
    "queue_long": {
        "en": "Sorry for the long wait. You can keep waiting, or leave your question and a 311 specialist "
        "will follow up — you'll get a request number.",
        "es": "Disculpe la larga espera. Puede seguir esperando o dejar su consulta y un especialista del 311 "
        "le dará seguimiento; recibirá un número de solicitud.",
    },
    "leave_ticket_button": {"en": "Leave my question instead", "es": "Prefiero dejar mi consulta"},
    "escalation_closed": {
        "en": "Live agents are not available right now; the chat line opens again {next_open}. I can leave "
        "your question for a 311 specialist to follow up, or you can call 311 (704-336-7600). Would you "
        "like to leave a request?",
        "es": "Los agentes no están disponibles en este momento; el chat vuelve a abrir el {next_open}. "
        "Puedo dejar su consulta para que un especialista del 311 le dé seguimiento, o puede llamar al 311 "
        "(704-336-7600). ¿Desea dejar una solicitud?",
    },
    "escalation_closing_soon": {
        "en": "The live chat line is closing for today, so we can't start a new chat now (it opens again "
        "{next_open}). I can leave your question for a 311 specialist to follow up, or you can call 311 "
        "(704-336-7600). Would you like to leave a request?",
        "es": "El chat en vivo está por cerrar por hoy, así que no podemos iniciar un chat nuevo (vuelve a "
        "abrir el {next_open}). Puedo dejar su consulta para que un especialista del 311 le dé seguimiento, "
        "o puede llamar al 311 (704-336-7600). ¿Desea dejar una solicitud?",
    },
    "escalation_no_agents": {
        "en": "All our agents are unavailable right now. I can leave your question for a 311 specialist to "
        "follow up, or you can call 311 (704-336-7600). Would you like to leave a request?",
        "es": "Todos nuestros agentes están ocupados en este momento. Puedo dejar su consulta para que un "
        "especialista del 311 le dé seguimiento, o puede llamar al 311 (704-336-7600). ¿Desea dejar una "
        "solicitud?",
    },
    # leaving a request instead of a chat (chat_server/agents/callback.py) ---------------------
    "callback_yes_button": {"en": "Yes, leave a request", "es": "Sí, dejar una solicitud"},
    "callback_no_button": {"en": "No, thanks", "es": "No, gracias"},
    "callback_phone_button": {"en": "Call me", "es": "Llámenme"},
    "callback_email_button": {"en": "E-mail me", "es": "Envíenme un correo"},
    "callback_none_button": {"en": "No callback needed", "es": "No necesito respuesta"},
    "callback_how": {
        "en": "How should a 311 specialist get back to you? Type your phone number or e-mail address, or "
        "choose an option.",
        "es": "¿Cómo puede comunicarse con usted un especialista del 311? Escriba su número de teléfono o "
        "correo electrónico, o elija una opción.",
    },
    "callback_ask_phone": {
        "en": "What phone number should we call? For example 704-555-0142.",
        "es": "¿A qué número de teléfono le llamamos? Por ejemplo 704-555-0142.",
    },
    "callback_ask_email": {
        "en": "What e-mail address should we write to? For example name@example.com.",
        "es": "¿A qué correo electrónico le escribimos? Por ejemplo nombre@ejemplo.com.",
    },
    "callback_declined": {
        "en": "All right, nothing was filed. I'm still here if you have a question, or you can call 311 "
        "(704-336-7600).",
        "es": "De acuerdo, no se registró nada. Sigo aquí si tiene alguna pregunta, o puede llamar al 311 "
        "(704-336-7600).",
    },
    "callback_already": {
        "en": "Your request {ticket_id} is already filed for this chat, and a 311 specialist will follow up. "
        "You can ask me about {ticket_id} any time.",
        "es": "Su solicitud {ticket_id} ya está registrada para este chat y un especialista del 311 le dará "
        "seguimiento. Puede preguntarme por {ticket_id} en cualquier momento.",
    },
}


def text(key: str, language: str, **fmt: Any) -> str:
    entry = TEXTS[key]
    template = entry.get(language) or entry["en"]
    return template.format(**fmt) if fmt else template
