"""Tickets: signed tokens, QR codes, the ticket page, confirmation mail."""
