"""Command-line verbs: one module a verb, each with add_arguments(parser) and run(args)."""
