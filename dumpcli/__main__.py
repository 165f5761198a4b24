"""`python -m dumpcli ...` (what `accelerate launch -m dumpcli train RECIPE` runs)."""

from dumpcli.cli import app

if __name__ == "__main__":
    app()
