"""Resident channels besides the web widget: SMS (Twilio), the mobile-app API, and e-mail."""
