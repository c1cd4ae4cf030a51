"""The back office's account pages: my account, pages behind mailed links, people, audit log."""
