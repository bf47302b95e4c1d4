"""Scripts run inside an engine's own virtualenv (converters/engine_env.py): they import only that engine's packages,
never edgekit."""
