"""The back office's registration pages: the desk, registration settings, reports, notices."""
