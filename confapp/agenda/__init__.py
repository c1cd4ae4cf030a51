"""Personal agendas: starred sessions, and the private feed of just those."""
