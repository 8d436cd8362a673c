"""One ComponentResource per concern, composed in infra/program.py."""
