"""The back office's programme pages and JSON: the editor, its forms, records, problems, API."""
