"""Notices: short mail from the organisers to attendees, sent through the outbox."""
