"""The RCP pages (French UI) for secretaries, registrars and participants."""
