"""The back office: sign-in, and the organisers' and access coordinators' pages and JSON."""
