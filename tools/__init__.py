"""Typed tools for Gemini supervised fine-tuning. Import tools.registry for the registry and dispatch()."""
