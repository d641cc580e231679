"""Configuration section `channels` (part of chat311.yml): SMS, mobile-app API and e-mail.

Flat keys on purpose so each one can be overridden as ``CHAT311_CHANNELS__<KEY>`` (the tests
point ``twilio_api_base`` at a local Twilio stand-in and ``smtp_port`` at a local SMTP server).
"""

from __future__ import annotations

from dataclasses import dataclass

from chat_server import settings_checks as check


@dataclass
class ChannelsConfig:
    # --- SMS through Twilio -------------------------------------------------------------
    sms_enabled: bool = False
    twilio_account_sid: str = ""
    # Used both to check X-Twilio-Signature on webhooks and as the REST API password.
    twilio_auth_token: str = ""
    # Sender: an E.164 number, or a Messaging Service SID (MG...) which takes precedence.
    twilio_from_number: str = ""
    twilio_messaging_service_sid: str = ""
    # Base of Twilio's REST API; tests point this at a local stand-in.
    twilio_api_base: str = "https://api.twilio.com"
    # Longest single outbound SMS body (Twilio's limit is 1600); longer replies are split.
    sms_max_chars: int = 1600
    # Answer STOP/START/HELP ourselves (TwiML). Turn off when Twilio Advanced Opt-Out replies.
    sms_keyword_replies: bool = True
    # A text that reads unfinished ("… near the") waits this long for the rest, sent as a second text, and
    # the two are one message; the webhook answers Twilio after it. 0 = every text on its own.
    sms_join_wait_s: float = 2.5
    # How long numbered options ("Reply 1 for ...") stay valid for an incoming digit.
    sms_options_ttl_s: int = 3600

    # --- mobile-app API (/api/v1) ------------------------------------------------------
    api_enabled: bool = True
    # Requests per app token and window (all endpoints).
    api_requests: int = 600
    api_window_s: float = 60.0
    # Webhook callbacks for new messages (per app token, set with `chat311 apptokens add`).
    webhook_timeout_s: float = 10.0

    # --- e-mail ----------------------------------------------------------------------------
    email_enabled: bool = False
    # The address residents write to; replies come from it and Reply-To points at it.
    email_address: str = "311chat@localhost"
    email_display_name: str = "City 311"
    # Inbound SMTP listener (normally behind the city's MTA, which does SPF/DKIM/spam checks).
    smtp_listen: bool = True
    smtp_listen_host: str = "127.0.0.1"
    smtp_listen_port: int = 2525
    email_max_bytes: int = 2 * 1024 * 1024
    # Outbound SMTP relay.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_tls: bool = False
    smtp_timeout_s: float = 20.0

    # --- durable outboxes (SMS sends, e-mails, webhooks) ----------------------------------
    outbox_max_attempts: int = 6
    outbox_retry_base_s: float = 1.0  # backoff: base * 2^attempt, capped at max, with jitter
    outbox_retry_max_s: float = 300.0
    # A claimed but unacknowledged entry idle this long belongs to a dead worker: take it over.
    outbox_claim_idle_s: float = 60.0

    def validate(self) -> None:
        # YAML (and so CHAT311_* env values) reads +17045550311 as the integer 17045550311.
        if self.twilio_from_number.isdigit():
            self.twilio_from_number = f"+{self.twilio_from_number}"
        check.between(self, "sms_max_chars", 70, 1600, "Twilio's limit")
        check.between(self, "sms_join_wait_s", 0, 5, "Twilio waits 15 s for the webhook's answer")
        if not self.twilio_api_base.startswith(("http://", "https://")):
            raise ValueError(f"twilio_api_base must be an http(s) URL, got {self.twilio_api_base!r}")
        if self.sms_enabled and not (self.twilio_account_sid and self.twilio_auth_token):
            raise ValueError("sms_enabled needs twilio_account_sid and twilio_auth_token")
        if self.sms_enabled and not (self.twilio_from_number or self.twilio_messaging_service_sid):
            raise ValueError("sms_enabled needs twilio_from_number or twilio_messaging_service_sid")
        if self.email_enabled and "@" not in self.email_address:
            raise ValueError(f"email_address must be an e-mail address, got {self.email_address!r}")
        if self.smtp_starttls and self.smtp_tls:
            raise ValueError("choose smtp_starttls or smtp_tls, not both")
        check.positive(self, "outbox_retry_base_s", "outbox_retry_max_s", "outbox_claim_idle_s", "webhook_timeout_s",
                       "api_window_s", "smtp_timeout_s")
        check.at_least(self, 1, "outbox_max_attempts", "api_requests")
