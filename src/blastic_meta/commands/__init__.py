"""Subcommands of the command line, one module each (``configure`` and ``run``).

Modules here import only light parts of the library at top level; heavy work is imported
inside ``run`` so that ``blastic-meta --help`` stays fast.
"""
