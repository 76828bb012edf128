"""Concerto — Dossier Communicant de Cancérologie."""
