"""Content staff's loop: fallback inbox → label / new FAQ → train & test → publish / rollback."""
