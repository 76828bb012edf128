"""Small pure helpers shared by the apps (no Django models here)."""
