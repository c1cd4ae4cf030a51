"""The back office's door pages and JSON: the scanner, the dashboard, the check-in API."""
