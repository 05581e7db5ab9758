"""hwbench: what hardware is in this box, can PyTorch use it, and how much of it does training use."""

__version__ = "0.1.0"

# Bump when a JSON field is renamed or removed (adding fields does not bump it); see DESIGN.md.
SCHEMA_VERSION = 1
