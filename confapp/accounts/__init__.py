"""Accounts for the back office and the door: users, roles per conference, passwords,
signed-in sessions, API tokens, the audit log."""
