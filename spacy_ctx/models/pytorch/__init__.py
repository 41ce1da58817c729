"""Plain torch modules, with no spaCy in them."""
