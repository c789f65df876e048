"""Small runnable apps showing Manhattan in Flask, FastAPI and Django."""
