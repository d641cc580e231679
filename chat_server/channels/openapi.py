"""The OpenAPI 3 description of the mobile-app API, served at `/api/openapi.json`.

Kept next to the handlers and exercised by a schemathesis run in the tests, so the document
and the server cannot drift apart silently.
"""

from __future__ import annotations

from typing import Any

ID_PATTERN = r"^[0-9a-f]{32}$"
USER_PATTERN = r"^[A-Za-z0-9_.:@-]{1,128}$"
CLIENT_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
MESSAGE_ID_PATTERN = r"^(0|[0-9]{1,15}-[0-9]{1,10})$"


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _json(schema_ref: str, description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}}}


_COMMON = {
    "400": _error("Malformed request (the error code says what is wrong)"),
    "401": _error("Missing, unknown or revoked app token"),
    "429": {**_error("Too many requests for this app token; retry after the given seconds"),
            "headers": {"Retry-After": {"schema": {"type": "string"}}}},
}
_CONV_PARAM = {"name": "conversation_id", "in": "path", "required": True,
               "schema": {"type": "string", "pattern": ID_PATTERN}}


def _operation(operation_id: str, summary: str, responses: dict[str, Any], *, body: str | None = None,
               parameters: list[dict[str, Any]] | None = None, not_found: bool = True) -> dict[str, Any]:
    """One operation: its own responses, plus 404 for an unknown conversation and the errors every one has."""
    operation: dict[str, Any] = {"operationId": operation_id, "summary": summary}
    if parameters:
        operation["parameters"] = parameters
    if body:
        operation["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{body}"}}}}
    not_found_response = {"404": _error("No such conversation for this app")} if not_found else {}
    operation["responses"] = {**responses, **not_found_response, **_COMMON}
    return operation


def document(public_url: str, max_message_chars: int, transcripts: bool = True) -> dict[str, Any]:
    """The API description; the transcript operation only when e-mail is enabled on this server."""
    doc = _document(public_url, max_message_chars)
    if not transcripts:
        del doc["paths"]["/api/v1/conversations/{conversation_id}/transcript"]
        for name in ("TranscriptRequest", "TranscriptQueued"):
            del doc["components"]["schemas"][name]
    return doc


def _document(public_url: str, max_message_chars: int) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "chat311 mobile-app API",
            "version": "1.0.0",
            "description": (
                "Chat with the city's 311 assistant and agents from a city app. Authenticate with "
                "`Authorization: Bearer <app token>` (issued by `chat311 apptokens add`). New bot and agent "
                "messages can be fetched with `GET .../messages?after=<last id>` or received on the app's "
                "webhook (see docs/channels.md for its signature)."
            ),
        },
        "servers": [{"url": public_url.rstrip("/")}],
        "security": [{"appToken": []}],
        "paths": {
            "/api/v1/conversations": {
                "post": _operation("createConversation", "Start (or resume) the conversation of one app user",
                                   {"200": _json("Conversation", "The user's conversation that is still open"),
                                    "201": _json("Conversation", "A new conversation")},
                                   body="NewConversation", not_found=False),
            },
            "/api/v1/conversations/{conversation_id}": {
                "parameters": [_CONV_PARAM],
                "get": _operation("getConversation",
                                  "State of a conversation (bot, queued, assigned, ticketed, closed)",
                                  {"200": _json("Conversation", "The conversation")}),
            },
            "/api/v1/conversations/{conversation_id}/messages": {
                "parameters": [_CONV_PARAM],
                "get": _operation(
                    "listMessages", "Messages after a message id (all when after is omitted or 0)",
                    {"200": _json("MessageList", "Messages in order")},
                    parameters=[
                        {"name": "after", "in": "query", "required": False,
                         "schema": {"type": "string", "pattern": MESSAGE_ID_PATTERN}},
                        {"name": "limit", "in": "query", "required": False,
                         "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 100}},
                    ]),
                "post": _operation(
                    "sendMessage", "The resident's message; the bot's replies of this turn come back in `replies`",
                    {"201": _json("SendResult", "Stored (or, for a repeated client_msg_id, the earlier message)"),
                     "409": _error("The conversation is closed, or the same client_msg_id is in flight")},
                    body="NewMessage"),
            },
            "/api/v1/conversations/{conversation_id}/media": {
                "parameters": [_CONV_PARAM],
                "post": {
                    **_operation("uploadPhoto", "A photo (JPEG, PNG or WebP) for this conversation; send its "
                                 "media_url as a message's attachment",
                                 {"201": _json("Uploaded", "Kept; only this conversation may attach it"),
                                  "413": _error("The file is larger than the server's limit"),
                                  "415": _error("Not a JPEG, PNG or WebP image (judged by its bytes)")}),
                    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                        "type": "object", "required": ["file"],
                        "properties": {"file": {"type": "string", "format": "binary"}}}}}},
                },
            },
            "/api/v1/conversations/{conversation_id}/close": {
                "parameters": [_CONV_PARAM],
                "post": _operation("closeConversation", "End the conversation (idempotent)",
                                   {"200": _json("Conversation", "The closed conversation")}),
            },
            "/api/v1/conversations/{conversation_id}/transcript": {
                "parameters": [_CONV_PARAM],
                "post": _operation("emailTranscript", "E-mail the conversation's transcript to the resident",
                                   {"202": _json("TranscriptQueued", "The transcript is queued for sending")},
                                   body="TranscriptRequest"),
            },
        },
        "components": {
            "securitySchemes": {"appToken": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object", "required": ["error"], "additionalProperties": False,
                    "properties": {
                        "error": {
                            "type": "object", "required": ["code", "message"],
                            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                        },
                        # a refused message that describes an emergency still gets the 911 answer first
                        "emergency": {"$ref": "#/components/schemas/Message"},
                    },
                },
                "NewConversation": {
                    "type": "object", "required": ["user_id"], "additionalProperties": False,
                    "properties": {
                        "user_id": {"type": "string", "pattern": USER_PATTERN,
                                    "description": "The app's stable id for this resident (not a phone number)"},
                        "language": {"type": "string", "enum": ["en", "es"]},
                    },
                },
                "Conversation": {
                    "type": "object", "additionalProperties": False,
                    "required": ["id", "state", "channel", "language", "created_at", "user_id"],
                    "properties": {
                        "id": {"type": "string", "pattern": ID_PATTERN},
                        "state": {"type": "string", "enum": ["bot", "queued", "assigned", "ticketed", "closed"]},
                        "channel": {"type": "string"},
                        "language": {"type": "string"},
                        "created_at": {"type": "number"},
                        "user_id": {"type": "string"},
                        "ticket_id": {"type": "string", "nullable": True},
                        "closed_reason": {"type": "string", "nullable": True},
                    },
                },
                "QuickReply": {
                    "type": "object", "required": ["title", "payload"],
                    "properties": {"title": {"type": "string"}, "payload": {"type": "string"}},
                },
                "Attachment": {
                    "type": "object", "required": ["type", "url"],
                    "properties": {"type": {"type": "string", "enum": ["image"]},
                                   "url": {"type": "string", "description": "A media_url from uploadPhoto"}},
                },
                "Uploaded": {
                    "type": "object", "required": ["media_url"], "additionalProperties": False,
                    "properties": {"media_url": {"type": "string"}},
                },
                "Message": {
                    "type": "object", "required": ["id", "sender", "text", "language", "ts"],
                    "properties": {
                        "id": {"type": "string", "pattern": MESSAGE_ID_PATTERN},
                        "sender": {"type": "string", "enum": ["resident", "bot", "agent", "system"]},
                        "text": {"type": "string"},
                        "language": {"type": "string"},
                        "ts": {"type": "integer", "description": "epoch milliseconds"},
                        "quick_replies": {"type": "array", "items": {"$ref": "#/components/schemas/QuickReply"}},
                        "attachment": {"type": "object"},
                        "custom": {"type": "object"},
                        "agent_name": {"type": "string"},
                        "client_msg_id": {"type": "string"},
                    },
                },
                "MessageList": {
                    "type": "object", "required": ["messages", "conversation"], "additionalProperties": False,
                    "properties": {
                        "messages": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}},
                        "conversation": {"$ref": "#/components/schemas/Conversation"},
                        "last_id": {"type": "string", "nullable": True},
                    },
                },
                "NewMessage": {
                    "type": "object", "required": ["text"], "additionalProperties": False,
                    "properties": {
                        "text": {"type": "string", "minLength": 1, "maxLength": max_message_chars,
                                 "description": "Plain text, or a quick reply's payload (e.g. /request_human)"},
                        "client_msg_id": {"type": "string", "pattern": CLIENT_ID_PATTERN,
                                          "description": "Idempotency key: a resend with the same id is stored once"},
                        "attachment": {"$ref": "#/components/schemas/Attachment"},
                    },
                },
                "SendResult": {
                    "type": "object", "required": ["message", "replies", "duplicate"], "additionalProperties": False,
                    "properties": {
                        "message": {"$ref": "#/components/schemas/Message"},
                        "replies": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}},
                        "duplicate": {"type": "boolean"},
                        "conversation": {"$ref": "#/components/schemas/Conversation"},
                    },
                },
                "TranscriptRequest": {
                    "type": "object", "required": ["email"], "additionalProperties": False,
                    "properties": {"email": {"type": "string", "format": "email", "maxLength": 254}},
                },
                "TranscriptQueued": {
                    "type": "object", "required": ["sent_to"],
                    "properties": {"sent_to": {"type": "string"}},
                },
            },
        },
    }
